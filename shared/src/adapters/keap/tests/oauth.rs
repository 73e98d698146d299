//! OAuth: refresh tokens exchanged and rotated, the newest kept in the credential store
//! that processes share, and what happens when Keap or the store refuses.

use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::*;
use crate::ports::credentials::{StoredRefreshToken, TokenRotation, token_origin};
use crate::ports::{StoreError, StoreResult};

fn token_response(access: &str, refresh: &str, expires_in: u64) -> ResponseTemplate {
    ok(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
        "scope": "full|abc123.infusionsoft.com"
    }))
}

/// Keap's token endpoint asked to exchange `refresh_token`, with the client's credentials.
fn token_exchange(refresh_token: &str) -> MockBuilder {
    let basic = format!("Basic {}", BASE64.encode("client-1:client-secret-1"));
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", basic.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form_is(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]))
}

/// User 1 read with the bearer `token` and no API key.
fn bearer_user_1(token: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(USER_1))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(NoHeader("x-keap-api-key"))
}

/// User 1 read with any credentials.
fn any_user_1() -> MockBuilder {
    Mock::given(method("GET")).and(path(USER_1))
}

/// A refresh token exchange Keap's token endpoint grants once: (refresh token spent,
/// access token, rotated refresh token, lifetime in seconds).
type Rotation = (&'static str, &'static str, &'static str, u64);

async fn expect_rotations(server: &MockServer, rotations: &[Rotation]) {
    for (spent, access, rotated, expires_in) in rotations {
        let granted = token_response(access, rotated, *expires_in);
        expect(server, 1, token_exchange(spent), granted).await;
    }
}

fn acme() -> AccountId {
    crate::domain::fixtures::account().id
}

/// What the store holds for the fixture account: token, version, and whether it descends
/// from `configured`.
async fn stored(store: &Arc<dyn CredentialStore>, configured: &str) -> Option<(String, u64, bool)> {
    store
        .refresh_token(&acme())
        .await
        .expect("store readable")
        .map(
            |StoredRefreshToken {
                 token,
                 version,
                 origin,
             }| {
                let descends = origin == token_origin(&Secret::new(configured));
                (token.expose().to_string(), version, descends)
            },
        )
}

/// A credential store that fails its next reads or saves, then works.
struct FlakyCredentials {
    inner: Arc<dyn CredentialStore>,
    failing_reads: AtomicU32,
    failing_saves: AtomicU32,
}

impl FlakyCredentials {
    fn failing(reads: u32, saves: u32) -> Self {
        FlakyCredentials {
            inner: memory_store(),
            failing_reads: reads.into(),
            failing_saves: saves.into(),
        }
    }
}

/// A store failure while `counter` has failures left, spending one; else `Ok`.
fn take_failure(counter: &AtomicU32) -> StoreResult<()> {
    match counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
        Ok(_) => Err(StoreError::Backend("store down".into())),
        Err(_) => Ok(()),
    }
}

#[async_trait::async_trait]
impl CredentialStore for FlakyCredentials {
    async fn refresh_token(&self, account: &AccountId) -> StoreResult<Option<StoredRefreshToken>> {
        take_failure(&self.failing_reads)?;
        self.inner.refresh_token(account).await
    }

    async fn save_refresh_token(
        &self,
        account: &AccountId,
        rotation: &TokenRotation,
    ) -> StoreResult<bool> {
        take_failure(&self.failing_saves)?;
        self.inner.save_refresh_token(account, rotation).await
    }
}

/// Which adapter makes a call: the story's current one, or a new process's (a Lambda
/// cold start) on the same credential store, current from then on.
enum Process {
    Same,
    New,
}
use Process::{New, Same};

/// The credential store a story starts with.
enum Store {
    Empty,
    /// Holding a refresh token whose chain started from another configured token:
    /// (token, that configured token).
    Holding(&'static str, &'static str),
    /// Empty, and failing its first saves, this many.
    FailingSaves(u32),
}
use Store::{Empty, FailingSaves, Holding};

impl Store {
    async fn open(&self) -> Arc<dyn CredentialStore> {
        match *self {
            Empty => memory_store(),
            Holding(token, started_from) => {
                let store = memory_store();
                let origin = token_origin(&Secret::new(started_from));
                store
                    .save_refresh_token(
                        &acme(),
                        &TokenRotation {
                            replaces: None,
                            token: Secret::new(token),
                            origin,
                        },
                    )
                    .await
                    .expect("seeded");
                store
            }
            FailingSaves(saves) => Arc::new(FlakyCredentials::failing(0, saves)),
        }
    }
}

/// One call of a story: the refresh token the account's configuration holds, the
/// process that reads user 1, and what the store holds after: (refresh token, version,
/// whether it descends from the configured token).
struct Call(&'static str, Process, Option<(&'static str, u64, bool)>);

/// OAuth calls made one after another, each of which must read user 1.
struct Story {
    name: &'static str,
    /// What Keap's token endpoint grants, each once.
    rotations: &'static [Rotation],
    /// How Keap answers user 1 read with a bearer token: (access token, HTTP status,
    /// times); a 200 is Mary.
    reads: &'static [(&'static str, u16, u64)],
    store: Store,
    calls: &'static [Call],
}

const STORIES: &[Story] = &[
    Story {
        name: "oauth_exchanges_rotates_and_refreshes_expired_tokens",
        rotations: &[
            // The first token expires inside the refresh margin: stale for the next call.
            ("refresh-1", "access-1", "refresh-2", 30),
            // The rotated refresh token is the one spent next.
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
        reads: &[("access-1", 200, 1), ("access-2", 200, 2)],
        store: Empty,
        calls: &[
            Call("refresh-1", Same, Some(("refresh-2", 1, true))),
            Call("refresh-1", Same, Some(("refresh-3", 2, true))),
            Call("refresh-1", Same, Some(("refresh-3", 2, true))),
        ],
    },
    Story {
        name: "a_new_refresh_token_in_the_configuration_starts_a_new_session",
        rotations: &[
            ("refresh-1", "access-1", "refresh-2", 30),
            // An operator re-authorised the account: its configuration now holds a new token,
            // which wins over the rotation this process kept.
            ("refresh-from-operator", "access-2", "refresh-3", 86_400),
        ],
        reads: &[("access-1", 200, 1), ("access-2", 200, 1)],
        store: Empty,
        calls: &[
            Call("refresh-1", Same, Some(("refresh-2", 1, true))),
            Call("refresh-from-operator", Same, Some(("refresh-3", 2, true))),
        ],
    },
    Story {
        name: "a_refused_access_token_is_renewed_once",
        rotations: &[
            ("refresh-1", "access-1", "refresh-2", 86_400),
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
        reads: &[("access-1", 401, 1), ("access-2", 200, 1)],
        store: Empty,
        calls: &[Call("refresh-1", Same, Some(("refresh-3", 2, true)))],
    },
    Story {
        name: "rotated_refresh_tokens_survive_a_restart",
        rotations: &[
            ("refresh-1", "access-1", "refresh-2", 86_400),
            // After the restart, the rotated token is spent, not the configured (voided) one.
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
        reads: &[("access-1", 200, 1), ("access-2", 200, 1)],
        store: Empty,
        calls: &[
            Call("refresh-1", Same, Some(("refresh-2", 1, true))),
            Call("refresh-1", New, Some(("refresh-3", 2, true))),
        ],
    },
    Story {
        name: "an_operator_re_authorisation_wins_over_the_stored_chain",
        rotations: &[("refresh-from-operator", "access-9", "refresh-10", 86_400)],
        reads: &[("access-9", 200, 1)],
        // A chain that started from the old configured token.
        store: Holding("refresh-2", "refresh-1"),
        calls: &[Call(
            "refresh-from-operator",
            Same,
            Some(("refresh-10", 2, true)),
        )],
    },
    Story {
        name: "a_rotation_the_store_cannot_take_is_spent_next_and_its_successor_saved",
        // Each access token is stale at once (30 s is inside the refresh margin).
        rotations: &[
            ("refresh-1", "access-1", "refresh-2", 30),
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
        reads: &[("access-1", 200, 1), ("access-2", 200, 1)],
        store: FailingSaves(1),
        calls: &[
            // Works though the save failed, then spends the unsaved token.
            Call("refresh-1", Same, None),
            Call("refresh-1", Same, Some(("refresh-3", 1, true))),
        ],
    },
];

/// Mounts the story's token endpoint and user reads, then makes its calls in order.
async fn tell(story: &Story) {
    let name = story.name;
    let server = MockServer::start().await;
    expect_rotations(&server, story.rotations).await;
    for &(token, status, times) in story.reads {
        let answer = if status == 200 {
            mary()
        } else {
            ResponseTemplate::new(status)
        };
        expect(&server, times, bearer_user_1(token), answer).await;
    }
    let store = story.store.open().await;
    let mut crm = keap_with(&server, store.clone());
    for (n, Call(configured, process, after)) in story.calls.iter().enumerate() {
        if let New = process {
            crm = keap_with(&server, store.clone());
        }
        let account = oauth_account_configured_with(&server, configured);
        let user = crm.user(&account, "1").await;
        assert!(
            matches!(user, Ok(Some(_))),
            "{name}, call {}: {user:?}",
            n + 1
        );
        let expected = after.map(|(token, version, descends)| (token.into(), version, descends));
        assert_eq!(
            stored(&store, configured).await,
            expected,
            "{name}, call {}",
            n + 1
        );
    }
    server.verify().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_call_by_call() {
    for story in STORIES {
        tell(story).await;
    }
}

#[tokio::test]
async fn concurrent_calls_spend_the_refresh_token_once() {
    let server = MockServer::start().await;
    let slow_grant =
        token_response("access-1", "refresh-2", 86_400).set_delay(Duration::from_millis(200));
    expect(&server, 1, token_exchange("refresh-1"), slow_grant).await;
    expect(&server, 3, bearer_user_1("access-1"), mary()).await;
    let crm = keap(&server);
    let account = oauth_account(&server);

    let (a, b, c) = tokio::join!(
        crm.user(&account, "1"),
        crm.user(&account, "1"),
        crm.user(&account, "1")
    );
    for result in [a, b, c] {
        assert!(matches!(result, Ok(Some(_))), "{result:?}");
    }
}

#[tokio::test]
async fn a_refused_refresh_token_is_unauthorized() {
    let server = MockServer::start().await;
    let refused = ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant", "error_description": "Invalid refresh token"
    }));
    expect(&server, 1, token_exchange("refresh-1"), refused).await;
    let result = keap(&server).user(&oauth_account(&server), "1").await;
    assert!(
        matches!(&result, Err(CrmError::Unauthorized(m))
            if m.contains("invalid_grant") && !m.contains("refresh-1")),
        "{result:?}"
    );
}

/// Two processes on `store` read user 1 at the same time.
async fn two_processes_read_user_1(
    server: &MockServer,
    store: &Arc<dyn CredentialStore>,
) -> [CrmResult<Option<CrmUser>>; 2] {
    let account = oauth_account(server);
    let (first, second) = (
        keap_with(server, store.clone()),
        keap_with(server, store.clone()),
    );
    let (a, b) = tokio::join!(first.user(&account, "1"), second.user(&account, "1"));
    [a, b]
}

#[tokio::test]
async fn a_process_refused_a_token_another_just_spent_uses_the_one_it_saved() {
    let server = MockServer::start().await;
    // Two processes spend refresh-1 at once. Keap honours the first and refuses the
    // second (it voided refresh-1), later than the first process saves its rotation.
    let honoured =
        token_response("access-a", "refresh-a", 86_400).set_delay(Duration::from_millis(100));
    expect_first(&server, token_exchange("refresh-1"), honoured).await;
    let refused = ResponseTemplate::new(400)
        .set_body_json(json!({ "error": "invalid_grant" }))
        .set_delay(Duration::from_millis(500));
    expect(&server, 1, token_exchange("refresh-1"), refused).await;
    expect_rotations(&server, &[("refresh-a", "access-b", "refresh-b", 86_400)]).await;
    for token in ["access-a", "access-b"] {
        expect(&server, 1, bearer_user_1(token), mary()).await;
    }
    let store = memory_store();

    for result in two_processes_read_user_1(&server, &store).await {
        assert!(matches!(result, Ok(Some(_))), "{result:?}");
    }
    assert_eq!(
        stored(&store, "refresh-1").await,
        Some(("refresh-b".into(), 2, true))
    );
}

#[tokio::test]
async fn concurrent_rotations_keep_the_first_save() {
    let server = MockServer::start().await;
    // Keap honours both exchanges of refresh-1 (each answers its own rotation).
    for (access, refresh) in [("access-a", "refresh-a"), ("access-b", "refresh-b")] {
        let granted = token_response(access, refresh, 86_400).set_delay(Duration::from_millis(100));
        expect_first(&server, token_exchange("refresh-1"), granted).await;
    }
    expect(&server, 2, any_user_1(), mary()).await;
    let store = memory_store();

    let [a, b] = two_processes_read_user_1(&server, &store).await;
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    // One save, of one of the two rotations; the later one did not overwrite it.
    let (token, version, descends) = stored(&store, "refresh-1").await.expect("saved");
    assert_eq!((version, descends), (1, true));
    assert!(
        ["refresh-a", "refresh-b"].contains(&token.as_str()),
        "{token}"
    );
}

#[tokio::test]
async fn an_unreadable_store_spends_no_refresh_token() {
    let server = MockServer::start().await;
    let any_exchange = Mock::given(method("POST")).and(path("/token"));
    let granted = token_response("access-1", "refresh-2", 86_400);
    expect(&server, 0, any_exchange, granted).await;
    let store: Arc<dyn CredentialStore> = Arc::new(FlakyCredentials::failing(1, 0));
    let result = keap_with(&server, store)
        .user(&oauth_account(&server), "1")
        .await;
    assert!(
        matches!(&result, Err(e @ CrmError::Unavailable(_)) if e.is_transient()),
        "{result:?}"
    );
}
