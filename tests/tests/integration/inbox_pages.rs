//! The team inbox over HTTP on the local server, as a browser's requests reach it: sign-in
//! links work once and are rate-limited per address, sessions end at sign-out, every change
//! needs the session's CSRF token, each user sees their own conversations (an admin all),
//! and the alerts list only texts routed to the user. The browser itself is driven in
//! `end_to_end::inbox`.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use smsflow_tests::example::ExampleConfig;
use smsflow_tests::local_server::{
    ExampleServer, created_contact_id, eventually_json, get_body, post_json, post_text_to_acme,
};
use smsflow_tests::poll::{LOCAL_SERVER, eventually};

const ANN: &str = "+14155552671";
const BEN: &str = "+14155550142";
const MARY: &str = "mary@acme.example";
const JOHN: &str = "john@acme.example";

/// A browser's requests: its session cookie, no redirects followed.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// An answer: status, headers and body.
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The session's CSRF token the page carries.
    fn csrf(&self) -> String {
        let start = self.body.find("data-csrf=\"").expect("a signed-in page") + 11;
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_string()
    }
}

impl Visitor {
    fn new(server: &ExampleServer) -> Visitor {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        Visitor {
            http,
            base: server.base_url(),
            cookie: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let answer = request.send().await.expect("answers");
        let headers = answer.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or_default().to_string();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        Page {
            status: answer.status().as_u16(),
            headers,
            body: answer.text().await.unwrap_or_default(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }
}

/// The sign-in links e-mailed to `to`: their tokens, oldest first.
async fn link_tokens(server: &ExampleServer, to: &str) -> Vec<String> {
    let emails = get_body(server, "/_sandbox/emails?limit=1000").await;
    let mut tokens: Vec<(String, String)> = (emails["emails"].as_array().into_iter().flatten())
        .filter(|e| e["to"] == json!([to]))
        .filter_map(|e| {
            let text = e["text"].as_str()?;
            let token = text
                .split("/link?token=")
                .nth(1)?
                .split_whitespace()
                .next()?;
            Some((
                e["id"].as_str().unwrap_or_default().to_string(),
                token.to_string(),
            ))
        })
        .collect();
    tokens.sort();
    tokens.into_iter().map(|(_, token)| token).collect()
}

/// `email` signed in to acme's inbox through the link e-mailed to it.
async fn signed_in(server: &ExampleServer, email: &str) -> Visitor {
    let mut visitor = Visitor::new(server);
    let asked = visitor
        .post("/inbox/acme/sign-in", &[("email", email)])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let token = link_tokens(server, email)
        .await
        .pop()
        .expect("a link e-mailed");
    let used = visitor.post("/inbox/acme/link", &[("token", &token)]).await;
    assert_eq!((used.status, used.location()), (303, "/inbox/acme"));
    visitor
}

/// Ann (Mary's contact) and Ben (John's) have each texted acme once.
async fn two_routed_texts(server: &ExampleServer) {
    for (first_name, phone, owner) in [("Ann", ANN, "1"), ("Ben", BEN, "2")] {
        let contact = json!({"first_name": first_name, "phone": phone, "owner_id": owner});
        let (status, body) = post_json(server, "/_sandbox/crm/acme/contacts", &contact).await;
        created_contact_id(status, &body);
    }
    post_text_to_acme(
        server,
        "SM00000000000000000000000000000a01",
        ANN,
        "Hi from Ann",
    )
    .await;
    post_text_to_acme(
        server,
        "SM00000000000000000000000000000b01",
        BEN,
        "Hi from Ben",
    )
    .await;
    eventually_json(server, "/_sandbox/emails", LOCAL_SERVER, |b| {
        b["emails"].as_array().is_some_and(|e| e.len() >= 2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_works_once_and_sets_a_host_only_secure_cookie() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let mut browser = Visitor::new(&server);
    let asked = browser
        .post("/inbox/acme/sign-in", &[("email", "Mary@Acme.example")])
        .await;
    assert!(asked.body.contains("Check your e-mail"), "{}", asked.body);
    let token = link_tokens(&server, MARY).await.pop().expect("a link");
    // Opening the link (a mail scanner does) uses nothing.
    let opened = browser
        .get(&format!("/inbox/acme/link?token={token}"))
        .await;
    assert_eq!(opened.status, 200);
    let used = browser.post("/inbox/acme/link", &[("token", &token)]).await;
    assert_eq!(used.status, 303);
    let cookie = used.headers[SET_COOKIE].to_str().expect("text");
    for attribute in [
        "__Host-smsflow-inbox=",
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let again = Visitor::new(&server)
        .post("/inbox/acme/link", &[("token", &token)])
        .await;
    assert_eq!(again.status, 400, "a used link: {}", again.body);
    let page = browser.get("/inbox/acme").await;
    assert_eq!(page.status, 200);
    for (header, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(page.headers[header], value, "{header}");
    }
    let policy = page.headers["content-security-policy"]
        .to_str()
        .expect("text");
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_links_are_limited_per_address_and_strangers_get_none() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let mut browser = Visitor::new(&server);
    // (address, status of the 1st..4th request in the window)
    let cases = [
        (MARY, [200, 200, 200, 429]),
        ("stranger@else.example", [200, 200, 200, 429]),
    ];
    for (address, statuses) in cases {
        for (n, expected) in statuses.into_iter().enumerate() {
            let page = browser
                .post("/inbox/acme/sign-in", &[("email", address)])
                .await;
            assert_eq!(page.status, expected, "{address} request {}", n + 1);
        }
    }
    assert_eq!(link_tokens(&server, MARY).await.len(), 3);
    assert_eq!(link_tokens(&server, "stranger@else.example").await.len(), 0);
    let invalid = browser
        .post("/inbox/acme/sign-in", &[("email", "not an address")])
        .await;
    assert_eq!(invalid.status, 422);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_sessions_csrf_token_and_sign_out_ends_the_session() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    two_routed_texts(&server).await;
    let mut mary = signed_in(&server, MARY).await;
    let thread = format!("/inbox/acme/c/{ANN}");
    let page = mary.get(&thread).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let request_id = "01JZZZZZZZZZZZZZZZZZZZZZZA";
    for forged in ["", "not-the-token"] {
        let form = [
            ("text", "Hi Ann"),
            ("csrf", forged),
            ("request_id", request_id),
        ];
        assert_eq!(
            mary.post(&thread, &form).await.status,
            403,
            "csrf {forged:?}"
        );
        let sign_out = mary.post("/inbox/acme/sign-out", &[("csrf", forged)]).await;
        assert_eq!(sign_out.status, 403);
    }
    let messages = get_body(&server, "/_sandbox/messages").await;
    assert_eq!(
        messages["messages"],
        json!([]),
        "nothing sent without the token"
    );
    // With it: sent, and the same form again sends nothing more.
    let form = [
        ("text", "Hi Ann"),
        ("csrf", csrf.as_str()),
        ("request_id", request_id),
    ];
    for _ in 0..2 {
        let sent = mary.post(&thread, &form).await;
        assert_eq!(
            (sent.status, sent.location()),
            (303, &*format!("{thread}?sent=1"))
        );
    }
    let sent = eventually_json(&server, "/_sandbox/messages", LOCAL_SERVER, |b| {
        b["messages"].as_array().is_some_and(|m| !m.is_empty())
    })
    .await;
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(1), "{sent}");
    // Signed out, the cookie opens nothing.
    let signed_out = mary.post("/inbox/acme/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.location(), "/inbox/acme/sign-in");
    let page = mary.get("/inbox/acme").await;
    assert_eq!((page.status, page.location()), (303, "/inbox/acme/sign-in"));
    let events = mary.get("/inbox/acme/events?since=0").await;
    assert_eq!(events.status, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_removed_from_the_account_is_signed_out() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let mut john = signed_in(&server, JOHN).await;
    assert_eq!(john.get("/inbox/acme").await.status, 200);
    let without_john = ExampleConfig::new().replace(
        "[[accounts.users]]\nid = \"john\"\nname = \"John Smith\"\nemail = \"john@acme.example\"\ncrm_user_id = \"2\"\n",
        "",
    );
    let server = server.restart_on(without_john).await;
    john.base = server.base_url();
    let page = john.get("/inbox/acme").await;
    assert_eq!((page.status, page.location()), (303, "/inbox/acme/sign-in"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reply_says_why_and_keeps_what_was_written() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    two_routed_texts(&server).await;
    post_text_to_acme(&server, "SM00000000000000000000000000000a02", ANN, "STOP").await;
    let mut mary = signed_in(&server, MARY).await;
    let thread = format!("/inbox/acme/c/{ANN}");
    let page = eventually(LOCAL_SERVER, async || {
        let page = mary.get(&thread).await;
        match page.body.contains("opted out of texts") {
            true => Ok(page),
            false => Err(format!("no opt-out banner yet: {}", page.body)),
        }
    })
    .await;
    // The box is closed, but a post (an older tab, a script) is refused all the same.
    assert!(page.body.contains("disabled"), "{}", page.body);
    let csrf = page.csrf();
    let form = [
        ("text", "Are you sure? <b>50% off</b>"),
        ("csrf", csrf.as_str()),
        ("request_id", "01JZZZZZZZZZZZZZZZZZZZZZZB"),
    ];
    let refused = mary.post(&thread, &form).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("Not sent (opted_out)"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("Are you sure? &lt;b&gt;50% off&lt;/b&gt;</textarea>"),
        "the draft, escaped, back in the box: {}",
        refused.body
    );
    let messages = get_body(&server, "/_sandbox/messages").await;
    assert_eq!(messages["messages"], json!([]), "nothing sent");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_sees_their_conversations_and_an_admin_all() {
    // In the example Mary is the inbox admin and John is not.
    let mary_a_rep = || ExampleConfig::new().replace("admin = true", "admin = false");
    // (configuration, who, thread, its status, the phones listed)
    let cases: [(ExampleConfig, &str, &str, u16, &[&str]); 5] = [
        (mary_a_rep(), MARY, ANN, 200, &[ANN]),
        (mary_a_rep(), MARY, BEN, 403, &[ANN]),
        (ExampleConfig::new(), JOHN, ANN, 403, &[BEN]),
        (ExampleConfig::new(), MARY, BEN, 200, &[ANN, BEN]),
        (ExampleConfig::new(), JOHN, BEN, 200, &[BEN]),
    ];
    for (config, who, phone, status, listed) in cases {
        let server = ExampleServer::start(config).await;
        two_routed_texts(&server).await;
        let mut user = signed_in(&server, who).await;
        let thread = user.get(&format!("/inbox/acme/c/{phone}")).await;
        assert_eq!(thread.status, status, "{who} opens {phone}");
        let list = user.get("/inbox/acme").await;
        let shown: Vec<&str> = [ANN, BEN]
            .into_iter()
            .filter(|p| list.body.contains(&format!("data-phone=\"{p}\"")))
            .collect();
        assert_eq!(shown, listed, "{who}'s list");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_list_only_the_texts_routed_to_the_user() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    two_routed_texts(&server).await;
    let alerts = async |who: &str| -> Value {
        let mut user = signed_in(&server, who).await;
        let page = user.get("/inbox/acme/events?since=0").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let answer: Value = serde_json::from_str(&page.body).expect("JSON");
        answer["alerts"].clone()
    };
    let mary = alerts(MARY).await;
    assert_eq!(mary.as_array().map(Vec::len), Some(1), "{mary}");
    assert_eq!(
        (mary[0]["phone"].as_str(), mary[0]["body"].as_str()),
        (Some(ANN), Some("Hi from Ann"))
    );
    assert_eq!(mary[0]["name"], "Ann");
    let john = alerts(JOHN).await;
    assert_eq!(john[0]["phone"], BEN, "{john}");
    server.stop().await;
}
