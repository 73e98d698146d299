//! Sequence sessions and stored sequence definitions.

use super::*;

fn session(id: &str, started_at: i64, expires_at: i64) -> SessionRecord {
    SessionRecord {
        session_id: id.into(),
        sequence: "welcome".into(),
        state: json!({"step": 0}),
        started_at: t(started_at),
        expires_at: t(expires_at),
        revision: 0,
    }
}

pub async fn sessions_one_active_per_contact(store: &dyn Store) {
    let (contact, other_contact) = (phone(N1), phone(N2));
    let first = session("s1", 0, 1_000);

    let started = start(store, &contact, &first, 0).await;
    assert_eq!(started, SessionStart::Started);
    let refused = start(store, &contact, &session("s2", 500, 1_500), 500).await;
    assert_eq!(refused, SessionStart::AlreadyActive(first.clone()));
    // Another contact has its own lock.
    let elsewhere = start(store, &other_contact, &session("s3", 500, 1_500), 500).await;
    assert_eq!(elsewhere, SessionStart::Started);

    let reads = [(0, Some(&first)), (999, Some(&first)), (5_000, None)];
    for (now, expected) in reads {
        let active = active(store, &contact, now).await;
        assert_eq!(active.as_ref(), expected, "now {now}");
    }

    // Once expired (though still stored), a new session may start.
    let second = session("s2", 5_000, 9_000);
    let restarted = start(store, &contact, &second, 5_000).await;
    assert_eq!(restarted, SessionStart::Started);
    let active = active(store, &contact, 5_000).await;
    assert_eq!(active, Some(second));
}

pub async fn sessions_update_and_end_need_the_session_id(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let first = session("s1", 0, 1_000);
    store
        .start_session(&acme, &contact, &first, t(0))
        .await
        .expect("start_session");
    let active = |now: i64| store.active_session(&acme, &contact, t(now));

    let impostor = SessionRecord {
        session_id: "other".into(),
        revision: 1,
        ..first.clone()
    };
    assert!(
        !store
            .update_session(&acme, &contact, &impostor)
            .await
            .expect("update_session")
    );
    assert_eq!(
        active(0).await.expect("active_session"),
        Some(first.clone())
    );

    let advanced = SessionRecord {
        state: json!({"step": 2, "answers": ["yes"]}),
        expires_at: t(2_000),
        revision: 1,
        ..first.clone()
    };
    assert!(
        store
            .update_session(&acme, &contact, &advanced)
            .await
            .expect("update_session")
    );
    assert_eq!(
        active(1_500).await.expect("active_session"),
        Some(advanced.clone())
    );

    assert!(!end(store, &acme, &contact, "other").await);
    assert_eq!(
        active(0).await.expect("active_session"),
        Some(advanced.clone())
    );
    assert!(end(store, &acme, &contact, "s1").await);
    assert_eq!(active(0).await.expect("active_session"), None);
    assert!(!end(store, &acme, &contact, "s1").await);
    assert!(
        !store
            .update_session(&acme, &contact, &advanced)
            .await
            .expect("update_session")
    );
    assert_eq!(active(0).await.expect("active_session"), None);

    // Ending frees the lock at once.
    let next = store
        .start_session(&acme, &contact, &session("s4", 0, 1_000), t(0))
        .await
        .expect("start_session");
    assert_eq!(next, SessionStart::Started);
}

/// The one-run-per-contact lock under a burst of starts for one contact: exactly one wins,
/// every other start sees the winner.
pub async fn sessions_one_start_wins_under_concurrency(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let candidates: Vec<SessionRecord> = (0..10)
        .map(|i| session(&format!("s{i}"), 0, 1_000))
        .collect();
    let results = join_all(
        candidates
            .iter()
            .map(|candidate| store.start_session(&acme, &contact, candidate, t(0))),
    )
    .await;
    let winners: Vec<&SessionRecord> = results
        .iter()
        .zip(&candidates)
        .filter(|(r, _)| matches!(r, Ok(SessionStart::Started)))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0];
    for result in &results {
        match result.as_ref().expect("start_session") {
            SessionStart::Started => {}
            SessionStart::AlreadyActive(holder) => assert_eq!(holder, winner),
        }
    }
    let active = store
        .active_session(&acme, &contact, t(0))
        .await
        .expect("active_session");
    assert_eq!(active.as_ref(), Some(winner));
}

/// An update is written only over the revision it was computed from: a stale writer (or
/// all but one of concurrent writers from the same read) is refused and changes nothing.
pub async fn sessions_update_needs_the_revision_read(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let first = session("s1", 0, 1_000);
    store
        .start_session(&acme, &contact, &first, t(0))
        .await
        .expect("start_session");
    let at = |revision: u64, step: u64| SessionRecord {
        state: json!({ "step": step }),
        revision,
        ..first.clone()
    };
    let stored = || async {
        store
            .active_session(&acme, &contact, t(0))
            .await
            .expect("active_session")
    };
    let cases = [
        (
            "revision 0 is the start's, never an update",
            at(0, 9),
            false,
        ),
        ("1 over 0", at(1, 1), true),
        ("a second writer from revision 0", at(1, 2), false),
        ("a writer skipping a revision", at(3, 3), false),
        ("2 over 1", at(2, 4), true),
    ];
    let mut expected = first.clone();
    for (what, update, written) in cases {
        let result = store
            .update_session(&acme, &contact, &update)
            .await
            .expect("update_session");
        assert_eq!(result, written, "{what}");
        if written {
            expected = update;
        }
        assert_eq!(stored().await.as_ref(), Some(&expected), "{what}");
    }

    let racers: Vec<SessionRecord> = (10..20).map(|step| at(3, step)).collect();
    let results = join_all(
        racers
            .iter()
            .map(|r| store.update_session(&acme, &contact, r)),
    )
    .await;
    let won: Vec<&SessionRecord> = results
        .iter()
        .zip(&racers)
        .filter(|(r, _)| matches!(r, Ok(true)))
        .map(|(_, racer)| racer)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(stored().await.as_ref(), Some(won[0]));
}

/// A valid sequence of `account` named `name` starting on `keyword`.
fn sequence(account: &str, name: &str, keyword: &str) -> Sequence {
    let text = format!(
        "account: {account}\nname: {name}\nstart: both\nkeywords: [{keyword}]\n\
         sender: '{N4}'\nsteps:\n  - name: ask\n    message: Hi ~Contact.FirstName~\n    \
         save_to: Contact._Answer\n    next: finish\n"
    );
    Sequence::parse(&format!("{name}.yaml"), &text, FileFormat::Yaml)
        .unwrap_or_else(|e| panic!("fixture sequence {name}: {e}"))
}

fn read_back(stored: Option<StoredSequence>) -> Option<Sequence> {
    stored.map(|s| s.unwrap_or_else(|e| panic!("stored sequence no longer valid: {e}")))
}

pub async fn sequences_put_get_list_delete(store: &dyn Store) {
    let acme = account_id("acme");
    let welcome = sequence("acme", "welcome", "HELLO");
    let book = sequence("acme", "book", "BOOK");
    let bravo_welcome = sequence("bravo", "welcome", "HI");
    for s in [&welcome, &book, &bravo_welcome] {
        store.put_sequence(s).await.expect("put_sequence");
    }
    let got = read_back(store.sequence(&acme, "welcome").await.expect("sequence")).expect("stored");
    assert_eq!(got.definition(), welcome.definition());
    assert!(got.is_started_by("hello"));
    assert!(
        store
            .sequence(&acme, "nope")
            .await
            .expect("sequence")
            .is_none()
    );
    assert_eq!(
        store.sequence_names(&acme).await.expect("names"),
        ["book", "welcome"]
    );
    let all: Vec<String> = store
        .sequences(&acme)
        .await
        .expect("sequences")
        .into_iter()
        .map(|s| s.expect("valid").name().to_string())
        .collect();
    assert_eq!(all, ["book", "welcome"]);

    // Replacing keeps one entry with the new definition.
    let changed = sequence("acme", "welcome", "WELCOME");
    store.put_sequence(&changed).await.expect("put_sequence");
    let got = read_back(store.sequence(&acme, "welcome").await.expect("sequence")).expect("stored");
    assert_eq!(got.definition(), changed.definition());
    assert_eq!(store.sequences(&acme).await.expect("sequences").len(), 2);

    assert!(
        store
            .delete_sequence(&acme, "welcome")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_sequence(&acme, "welcome")
            .await
            .expect("delete")
    );
    assert_eq!(store.sequence_names(&acme).await.expect("names"), ["book"]);
    // The other account's sequence of the same name is untouched.
    let bravo = read_back(
        store
            .sequence(&account_id("bravo"), "welcome")
            .await
            .expect("sequence"),
    )
    .expect("bravo's");
    assert_eq!(bravo.definition(), bravo_welcome.definition());
    assert!(
        store
            .sequence_names(&account_id("nobody"))
            .await
            .expect("names")
            .is_empty()
    );
}

/// One note per (account, contact, sequence): the first id recorded stays, also when
/// several jobs race to record theirs.
pub async fn sequence_note_is_recorded_once(store: &dyn Store) {
    let acme = account_id("acme");
    let note = |contact: &'static str, sequence: &'static str| {
        let acme = acme.clone();
        async move {
            store
                .sequence_note(&acme, &ContactId::new(contact), sequence)
                .await
                .expect("sequence_note")
        }
    };
    assert_eq!(note("7", "welcome").await, None);
    let first = store
        .remember_sequence_note(&acme, &ContactId::new("7"), "welcome", "n1")
        .await
        .expect("remember");
    assert_eq!(first, "n1");
    let second = store
        .remember_sequence_note(&acme, &ContactId::new("7"), "welcome", "n2")
        .await
        .expect("remember");
    assert_eq!(second, "n1", "the first note stays");
    assert_eq!(note("7", "welcome").await.as_deref(), Some("n1"));
    // Other sequences, contacts and accounts have notes of their own.
    assert_eq!(note("7", "book").await, None);
    assert_eq!(note("8", "welcome").await, None);
    assert_eq!(
        store
            .sequence_note(&account_id("bravo"), &ContactId::new("7"), "welcome")
            .await
            .expect("sequence_note"),
        None
    );

    let ids: Vec<String> = (0..10).map(|i| format!("race{i}")).collect();
    let contact_9 = ContactId::new("9");
    let results = join_all(
        ids.iter()
            .map(|id| store.remember_sequence_note(&acme, &contact_9, "welcome", id)),
    )
    .await;
    let on_record: BTreeSet<String> = results.into_iter().map(|r| r.expect("remember")).collect();
    assert_eq!(on_record.len(), 1, "{on_record:?}");
    assert_eq!(note("9", "welcome").await, on_record.into_iter().next());
}

/// Ends session `session_id` of `account`'s contact `phone`; whether it did.
async fn end(
    store: &dyn Store,
    account: &AccountId,
    phone: &PhoneNumber,
    session_id: &str,
) -> bool {
    store
        .end_session(account, phone, &SessionId::new(session_id))
        .await
        .expect("end_session")
}

/// Starts `session` for acme's contact `phone` at `at`.
async fn start(
    store: &dyn Store,
    phone: &PhoneNumber,
    session: &SessionRecord,
    at: i64,
) -> SessionStart {
    store
        .start_session(&account_id("acme"), phone, session, t(at))
        .await
        .expect("start_session")
}

/// Acme's live session with `phone` at `at`.
async fn active(store: &dyn Store, phone: &PhoneNumber, at: i64) -> Option<SessionRecord> {
    store
        .active_session(&account_id("acme"), phone, t(at))
        .await
        .expect("active_session")
}
