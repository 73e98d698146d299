//! Accounts and the numbers and Messaging Services they own.

use super::*;

pub async fn accounts_put_and_get(store: &dyn Store) {
    let zeta = account("zeta", &[N1]);
    let alpha = account("alpha", &[N2, N3]);
    let mid = account("mid", &[]);
    for a in [&zeta, &alpha, &mid] {
        put(store, a).await;
    }
    for a in [&zeta, &alpha, &mid] {
        assert_eq!(
            store.account(&a.id).await.expect("account").as_ref(),
            Some(a)
        );
    }
    assert_eq!(
        store.account(&account_id("nobody")).await.expect("account"),
        None
    );

    let owners = [
        (N1, Some("zeta")),
        (N2, Some("alpha")),
        (N3, Some("alpha")),
        (N4, None),
    ];
    for (number, owner) in owners {
        assert_eq!(owner_of(store, number).await.as_deref(), owner, "{number}");
    }
    assert_eq!(
        store.account_ids().await.expect("account_ids"),
        vec![account_id("alpha"), account_id("mid"), account_id("zeta")]
    );
}

/// An account on Instasent, without Twilio, one of its numbers on Twilio: stored and read
/// back whole (provider, credentials, callback secret), its numbers claimed as any.
pub async fn instasent_accounts_put_and_get(store: &dyn Store) {
    use smsflow_shared::domain::{InstasentCredentials, Secret, SmsProviderKind};
    let mut insta = account("insta", &[N1, N2]);
    insta.provider = SmsProviderKind::Instasent;
    insta.twilio = None;
    insta.instasent = Some(InstasentCredentials {
        api_token: Secret::new("instasent-token"),
        base_url: Some("http://127.0.0.1:9/v1".into()),
        callback_secret: Some(Secret::new("callback-secret-0123456789")),
    });
    insta.numbers[1].provider = Some(SmsProviderKind::Twilio);
    put(store, &insta).await;
    let stored = store.account(&insta.id).await.expect("account");
    assert_eq!(stored.as_ref(), Some(&insta));
    for number in [N1, N2] {
        assert_eq!(
            owner_of(store, number).await.as_deref(),
            Some("insta"),
            "{number}"
        );
    }
    let found = store.receiving_account(&phone(N1), None).await;
    match found.expect("lookup") {
        Some(ReceivingAccount::OwnsNumber(found)) => assert_eq!(found, insta),
        other => panic!("expected insta by its number, got {other:?}"),
    }
}

pub async fn number_taken_changes_nothing(store: &dyn Store) {
    let first = account("first", &[N1]);
    put(store, &first).await;

    // A new account listing a taken number is not stored, and claims none of its numbers.
    let second = account("second", &[N2, N1]);
    match store.put_account(&second).await {
        Err(StoreError::NumberTaken { number, owner }) => {
            assert_eq!(number, phone(N1));
            assert_eq!(owner, first.id);
        }
        other => panic!("expected NumberTaken, got {other:?}"),
    }
    assert_eq!(store.account(&second.id).await.expect("account"), None);
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("first"));
    assert_eq!(owner_of(store, N2).await, None);
    assert_eq!(
        store.account_ids().await.expect("account_ids"),
        vec![first.id.clone()]
    );

    // An existing account reaching for a taken number keeps its previous state entirely.
    let third = account("third", &[N3]);
    put(store, &third).await;
    let greedy = Account {
        name: "Renamed".into(),
        ..account("third", &[N1])
    };
    assert!(matches!(
        store.put_account(&greedy).await,
        Err(StoreError::NumberTaken { .. })
    ));
    assert_eq!(
        store.account(&third.id).await.expect("account"),
        Some(third)
    );
    assert_eq!(owner_of(store, N3).await.as_deref(), Some("third"));
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("first"));
}

pub async fn re_put_account_releases_dropped_numbers(store: &dyn Store) {
    put(store, &account("acme", &[N1, N2])).await;
    let updated = Account {
        name: "Acme Roofing".into(),
        ..account("acme", &[N2, N3])
    };
    put(store, &updated).await;
    assert_eq!(
        store.account(&updated.id).await.expect("account"),
        Some(updated)
    );

    let owners = [(N1, None), (N2, Some("acme")), (N3, Some("acme"))];
    for (number, owner) in owners {
        assert_eq!(owner_of(store, number).await.as_deref(), owner, "{number}");
    }
    // The released number is free for another account.
    put(store, &account("other", &[N1])).await;
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("other"));
}

const S1: &str = "MG00000000000000000000000000000a01";
const S2: &str = "MG00000000000000000000000000000a02";
const S3: &str = "MG00000000000000000000000000000a03";

/// `account` listing the Messaging Services `services`, as written.
fn with_services(account: Account, services: &[&str]) -> Account {
    let mut account = account;
    if let Some(twilio) = account.twilio.as_mut() {
        twilio.messaging_service_sids = services.iter().map(|s| s.to_string()).collect();
    }
    account
}

async fn service_owner(store: &dyn Store, service: &str) -> Option<String> {
    store
        .account_by_messaging_service(service)
        .await
        .expect("account_by_messaging_service")
        .map(|a| a.id.to_string())
}

pub async fn accounts_are_found_by_messaging_service(store: &dyn Store) {
    // Two services on one account, one written in another case than Twilio's.
    let acme = with_services(account("acme", &[N1]), &[S1, &S2.to_uppercase()]);
    let bravo = with_services(account("bravo", &[]), &[S3]);
    let plain = account("plain", &[N2]);
    for a in [&acme, &bravo, &plain] {
        put(store, a).await;
    }
    let cases = [
        ("first service", S1.to_string(), Some("acme")),
        ("second service", S2.to_string(), Some("acme")),
        ("another account's", S3.to_string(), Some("bravo")),
        ("upper-case hex", S1.to_uppercase(), Some("acme")),
        (
            "lower-case prefix",
            S3.replacen("MG", "mg", 1),
            Some("bravo"),
        ),
        ("unknown", "MG00000000000000000000000000000a09".into(), None),
        ("a number, not a service", N1.into(), None),
    ];
    for (what, service, owner) in cases {
        assert_eq!(
            service_owner(store, &service).await.as_deref(),
            owner,
            "{what}"
        );
    }
    // The account comes back whole, with its services as written.
    assert_eq!(
        store
            .account_by_messaging_service(S2)
            .await
            .expect("account_by_messaging_service"),
        Some(acme)
    );
}

pub async fn service_taken_changes_nothing(store: &dyn Store) {
    let first = with_services(account("first", &[N1]), &[S1]);
    put(store, &first).await;

    // A new account listing a taken service (in another case) is not stored, and claims
    // none of its numbers or services.
    let second = with_services(account("second", &[N2]), &[S2, &S1.to_uppercase()]);
    match store.put_account(&second).await {
        Err(StoreError::ServiceTaken { service, owner }) => {
            assert_eq!(service, S1);
            assert_eq!(owner, first.id);
        }
        other => panic!("expected ServiceTaken, got {other:?}"),
    }
    assert_eq!(store.account(&second.id).await.expect("account"), None);
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("first"));
    assert_eq!(service_owner(store, S2).await, None);
    assert_eq!(owner_of(store, N2).await, None);

    // An existing account reaching for a taken service keeps its previous state entirely.
    let third = with_services(account("third", &[N3]), &[S3]);
    put(store, &third).await;
    let greedy = Account {
        name: "Renamed".into(),
        ..with_services(account("third", &[N4]), &[S1])
    };
    assert!(matches!(
        store.put_account(&greedy).await,
        Err(StoreError::ServiceTaken { .. })
    ));
    assert_eq!(
        store.account(&third.id).await.expect("account"),
        Some(third)
    );
    assert_eq!(service_owner(store, S3).await.as_deref(), Some("third"));
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("first"));
    assert_eq!(owner_of(store, N3).await.as_deref(), Some("third"));
    assert_eq!(owner_of(store, N4).await, None);
}

pub async fn re_put_account_releases_dropped_services(store: &dyn Store) {
    put(store, &with_services(account("acme", &[N1]), &[S1, S2])).await;
    // S2 is kept (respelled), S1 dropped, S3 added.
    let updated = with_services(account("acme", &[N1]), &[&S2.to_uppercase(), S3]);
    put(store, &updated).await;
    assert_eq!(
        store.account(&updated.id).await.expect("account"),
        Some(updated)
    );
    let owners = [(S1, None), (S2, Some("acme")), (S3, Some("acme"))];
    for (service, owner) in owners {
        assert_eq!(
            service_owner(store, service).await.as_deref(),
            owner,
            "{service}"
        );
    }
    // The released service is free for another account.
    put(store, &with_services(account("other", &[]), &[S1])).await;
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("other"));
}

/// Accounts stored before services were indexed (simulated by `forget_service_claims`,
/// which removes every service claim and index marker the backend keeps, leaving the
/// accounts as they are) are found by their services without an operator step, and
/// behave as indexed accounts afterwards. Not in [`store_conformance!`]: the hook is
/// backend-specific.
pub async fn stored_accounts_without_service_claims_are_indexed<F, Fut>(
    store: &dyn Store,
    forget_service_claims: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Two older accounts list S1 (older versions did not refuse that): the first by id
    // keeps it, as the scan that found accounts before the index did.
    put(store, &with_services(account("bravo", &[N2]), &[S1])).await;
    forget_service_claims().await;
    let acme = with_services(account("acme", &[N1]), &[S1, S2]);
    put(store, &acme).await;
    put(store, &with_services(account("plain", &[N3]), &[])).await;
    forget_service_claims().await;

    assert_eq!(
        service_owner(store, &S2.to_uppercase()).await.as_deref(),
        Some("acme")
    );
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("acme"));
    assert_eq!(
        service_owner(store, "MG00000000000000000000000000000a09").await,
        None
    );
    assert!(matches!(
        store
            .put_account(&with_services(account("bravo", &[N2]), &[S1]))
            .await,
        Err(StoreError::ServiceTaken { .. })
    ));

    // The claims made for older accounts are released like any others.
    put(store, &with_services(account("acme", &[N1]), &[S2])).await;
    assert_eq!(service_owner(store, S1).await, None);
    put(store, &with_services(account("bravo", &[N2]), &[S1])).await;
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("bravo"));
    assert_eq!(service_owner(store, S2).await.as_deref(), Some("acme"));
}

async fn receiver(
    store: &dyn Store,
    number: &str,
    service: Option<&str>,
) -> Option<ReceivingAccount> {
    store
        .receiving_account(&phone(number), service)
        .await
        .expect("receiving_account")
}

/// The inbound webhook's lookup: the number's owner wins over a Messaging Service, which
/// counts for numbers no account owns; the account comes back as last written.
pub async fn receiving_account_prefers_the_numbers_owner(store: &dyn Store) {
    let acme = with_services(account("acme", &[N1]), &[S1]);
    let bravo = with_services(account("bravo", &[N2]), &[S2]);
    put(store, &acme).await;
    put(store, &bravo).await;
    let owns = |a: &Account| Some(ReceivingAccount::OwnsNumber(a.clone()));
    let lists = |a: &Account| Some(ReceivingAccount::ListsService(a.clone()));
    let cases = [
        ("acme's number", N1, None, owns(&acme)),
        ("acme's number, bravo's service", N1, Some(S2), owns(&acme)),
        (
            "a pool number of bravo's service",
            N3,
            Some(S2),
            lists(&bravo),
        ),
        (
            "upper-case service",
            N3,
            Some(&S1.to_uppercase()),
            lists(&acme),
        ),
        ("a pool number, no service", N3, None, None),
        ("unknown service", N3, Some(S3), None),
    ];
    for (what, number, service, expected) in cases {
        assert_eq!(receiver(store, number, service).await, expected, "{what}");
    }

    // Rewritten: every way to the account finds the new one; a released number none.
    let renamed = Account {
        name: "Acme Roofing".into(),
        ..with_services(account("acme", &[N4]), &[S1])
    };
    put(store, &renamed).await;
    assert_eq!(receiver(store, N4, None).await, owns(&renamed));
    assert_eq!(receiver(store, N3, Some(S1)).await, lists(&renamed));
    assert_eq!(receiver(store, N1, Some(S2)).await, lists(&bravo));
    let by_number = store
        .account_by_number(&phone(N4))
        .await
        .expect("account_by_number");
    assert_eq!(by_number, Some(renamed.clone()));
    let by_service = store
        .account_by_messaging_service(S1)
        .await
        .expect("account_by_messaging_service");
    assert_eq!(by_service, Some(renamed));
}

/// Claims written by versions that did not copy the account onto them (simulated by
/// `strip_copies`, which removes the copies the backend keeps) still find their account,
/// and `put_account` writes the copies again. Not in [`store_conformance!`]: the hook is
/// backend-specific.
pub async fn claims_without_account_copies_still_find_it<F, Fut>(store: &dyn Store, strip_copies: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let acme = with_services(account("acme", &[N1]), &[S1]);
    put(store, &acme).await;
    strip_copies().await;
    let found = Some(acme.clone());
    assert_eq!(
        store
            .account_by_number(&phone(N1))
            .await
            .expect("by number"),
        found
    );
    assert_eq!(
        store
            .account_by_messaging_service(S1)
            .await
            .expect("by service"),
        found
    );
    let owns = Some(ReceivingAccount::OwnsNumber(acme.clone()));
    assert_eq!(receiver(store, N1, Some(S1)).await, owns);
    let lists = Some(ReceivingAccount::ListsService(acme.clone()));
    assert_eq!(receiver(store, N2, Some(S1)).await, lists);

    let renamed = Account {
        name: "Acme Roofing".into(),
        ..acme
    };
    put(store, &renamed).await;
    assert_eq!(
        receiver(store, N1, None).await,
        Some(ReceivingAccount::OwnsNumber(renamed))
    );
}
