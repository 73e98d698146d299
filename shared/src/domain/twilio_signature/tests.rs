use super::*;

/// The URL, token and parameters shared by the request-validator tests of Twilio's
/// helper libraries: twilio-python `tests/unit/test_request_validator.py`, twilio-node
/// `spec/validation.spec.js`, twilio-go `client/request_validator_test.go` and
/// twilio-java `src/test/java/com/twilio/security/RequestValidatorTest.java`.
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
const JSON_BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const EMPTY_OBJECT_HASH: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn library_params() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

#[test]
fn computes_the_signatures_of_twilios_helper_library_vectors() {
    // (source, url, params, expected signature); token "12345" throughout.
    type Case = (&'static str, String, Vec<(String, String)>, &'static str);
    let duplicate_keys = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ]);
    let cases: Vec<Case> = vec![
        (
            "python/node/go/java: base vector",
            URL.into(),
            library_params(),
            SIGNATURE,
        ),
        (
            // A further vector; its signature was recomputed independently with Python's
            // `hmac` and `base64` modules.
            "known vector with From/Caller +12349013030",
            URL.into(),
            pairs(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+12349013030"),
                ("Digits", "1234"),
                ("From", "+12349013030"),
                ("To", "+18005551212"),
            ]),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        ),
        (
            // Parameter order must not matter: we sort.
            "base vector, params in reverse order",
            URL.into(),
            library_params().into_iter().rev().collect(),
            SIGNATURE,
        ),
        (
            "python/go/java: https with port 443",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
        ),
        (
            "python/go/java: http with port 80",
            "http://mycompany.com:80/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        ),
        (
            "python/go/java: http with port 1234",
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        (
            "node: url with credentials",
            "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "CukzLTc1tT5dXEDIHm/tKBanW10=",
        ),
        (
            "node: url with just a username",
            "https://user@mycompany.com/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "2YRLlVAflCqxaNicjMpJcSTgzSs=",
        ),
        (
            "node: url with credentials and port 443",
            "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2".into(),
            library_params(),
            "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=",
        ),
        (
            "node: unescaped single quote in the query, signed as is",
            format!("{URL}&Body=It's+amazing"),
            library_params(),
            "dsq4Ehbj6cs+KdTkpF5sSSplOWw=",
        ),
        (
            "python: duplicate keys (MultiDict / QueryDict)",
            URL.into(),
            duplicate_keys.clone(),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
        (
            "node: duplicate values are de-duplicated",
            URL.into(),
            [duplicate_keys, pairs(&[("Digits", "1234")])].concat(),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
        (
            "node: array parameter",
            URL.into(),
            pairs(&[
                ("MessagingBinding.Address", "+1325xxxxxxx"),
                ("MessagingBinding.Address", "+1415xxxxxxx"),
            ]),
            "83O6e2vORAoJHUNzJjDWN1jz+BA=",
        ),
        (
            "node: array parameter, values in the other order",
            URL.into(),
            pairs(&[
                ("MessagingBinding.Address", "+1415xxxxxxx"),
                ("MessagingBinding.Address", "+1325xxxxxxx"),
            ]),
            "83O6e2vORAoJHUNzJjDWN1jz+BA=",
        ),
        (
            "python/node/go/java: JSON body, url with bodySHA256",
            format!("{URL}&bodySHA256={JSON_BODY_HASH}"),
            vec![],
            "a9nBmqA0ju/hNViExpshrM61xv4=",
        ),
        (
            "node/go/java: JSON body, bodySHA256 the only parameter",
            format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}"),
            vec![],
            "y77kIzt2vzLz71DgmJGsen2scGs=",
        ),
        (
            // Node's vector signs the URL with the default port; validation adds it.
            "node: JSON body \"{}\", signed with :443",
            format!(
                "https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256={EMPTY_OBJECT_HASH}"
            ),
            vec![],
            "Ldidvp12m26NI7eqEvxnEpkd9Hc=",
        ),
    ];
    for (source, url, params, expected) in cases {
        assert_eq!(sign(TOKEN, &url, &params), expected, "{source}");
    }
}

#[test]
fn validates_form_posts_like_twilios_helper_libraries() {
    let params = library_params();
    let https_1234 = URL.replace(".com", ".com:1234");
    let http = URL.replace("https", "http");
    let http_1234 = https_1234.replace("https", "http");
    let creds = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
    // (source, url we received, header, expected)
    let cases: Vec<(&str, &str, Option<&str>, bool)> = vec![
        ("all: correct signature", URL, Some(SIGNATURE), true),
        ("go: wrong signature", URL, Some("WRONG SIGNATURE"), false),
        ("node: wrong signature", URL, Some("WRONG_SIGNATURE"), false),
        (
            "java: signature with extra prefix",
            URL,
            Some("NOTRSOYDt4T1cUTdK1PDd93/VVr8B8="),
            false,
        ),
        ("node: signature undefined", URL, None, false),
        ("empty header", URL, Some(""), false),
        (
            "all: https port stripped",
            &https_1234,
            Some(SIGNATURE),
            true,
        ),
        (
            "all: http explicit port kept",
            &http_1234,
            Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
            true,
        ),
        (
            "all: https default port added",
            URL,
            Some("kvajT1Ptam85bY51eRf/AJRuM3w="),
            true,
        ),
        (
            "all: http default port added",
            &http,
            Some("0ZXoZLH/DfblKGATFgpif+LLRf4="),
            true,
        ),
        (
            "node: credentials kept",
            creds,
            Some("CukzLTc1tT5dXEDIHm/tKBanW10="),
            true,
        ),
        (
            "node: credentials kept, port added",
            creds,
            Some("ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="),
            true,
        ),
        (
            "node: username only",
            "https://user@mycompany.com/myapp.php?foo=1&bar=2",
            Some("2YRLlVAflCqxaNicjMpJcSTgzSs="),
            true,
        ),
        // Twilio's doc: user:pass@ is dropped before signing.
        ("doc: credentials dropped", creds, Some(SIGNATURE), true),
        (
            "credentials dropped, port kept",
            "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2",
            Some(SIGNATURE),
            true,
        ),
        // A signature for http must not validate an https request, nor other paths.
        (
            "other scheme",
            URL,
            Some("0ZXoZLH/DfblKGATFgpif+LLRf4="),
            false,
        ),
        (
            "other path",
            "https://mycompany.com/other.php?foo=1&bar=2",
            Some(SIGNATURE),
            false,
        ),
        (
            "extra query parameter",
            "https://mycompany.com/myapp.php?foo=1&bar=2&somethingUnexpected=true",
            Some(SIGNATURE),
            false,
        ),
    ];
    for (source, url, header, expected) in cases {
        assert_eq!(validate(TOKEN, url, &params, header), expected, "{source}");
    }
}

#[test]
fn port_variants_from_twilio_node_webhooks_spec() {
    // twilio-node `spec/unit/webhooks/webhooks.spec.js`: signatures computed over one
    // URL and checked against another, with token "s3cr3t" and no params.
    let token = "s3cr3t";
    let cases = [
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param2",
            false,
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com:443/path?test=param",
            true,
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com:443/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param'WithQuote",
            "https://example.com/path?test=param'WithQuote",
            true,
        ),
        (
            "https://example.com/path?test=param%27WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            true,
        ),
        // A non-default port is never swapped for another one.
        (
            "https://example.com:8443/path",
            "https://example.com:443/path",
            false,
        ),
        (
            "https://example.com:8443/path",
            "https://example.com:9443/path",
            false,
        ),
    ];
    for (signed_url, received_url, expected) in cases {
        let signature = sign(token, signed_url, &[]);
        assert_eq!(
            validate(token, received_url, &[], Some(&signature)),
            expected,
            "signed {signed_url}, received {received_url}"
        );
    }
}

#[test]
fn rejects_tampering() {
    let params = library_params();
    let mut tampered = params.clone();
    tampered[2].1 = "9999".into();
    let mut extra = params.clone();
    extra.push(("Body".into(), "hi".into()));
    let missing = params[1..].to_vec();
    let cases = [
        ("wrong token", "54321", params.clone(), false),
        ("empty token", "", params.clone(), false),
        ("tampered value", TOKEN, tampered, false),
        ("extra param", TOKEN, extra, false),
        ("missing param", TOKEN, missing, false),
        ("the real thing", TOKEN, params, true),
    ];
    for (case, token, params, expected) in cases {
        assert_eq!(
            validate(token, URL, &params, Some(SIGNATURE)),
            expected,
            "{case}"
        );
    }
}

#[test]
fn values_are_never_trimmed() {
    let signed = pairs(&[("Body", "  Stop \n"), ("From", "+14158675309")]);
    let signature = sign(TOKEN, URL, &signed);
    assert!(validate(TOKEN, URL, &signed, Some(&signature)));
    let trimmed = pairs(&[("Body", "Stop"), ("From", "+14158675309")]);
    assert!(!validate(TOKEN, URL, &trimmed, Some(&signature)));
    // Names and values are concatenated with no delimiter (Twilio's algorithm), so only
    // the concatenation counts.
    assert_eq!(
        sign(TOKEN, URL, &pairs(&[("Body", "x")])),
        sign(TOKEN, URL, &pairs(&[("Bod", "yx")]))
    );
}

#[test]
fn names_sort_by_byte_order() {
    // Upper case sorts before lower case ("Unix-style" byte order): "To" < "body".
    let mixed = pairs(&[("body", "b"), ("To", "t")]);
    let hmac_of = |data: &str| {
        let mut mac = HmacSha1::new_from_slice(TOKEN.as_bytes()).expect("any key length");
        mac.update(data.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    };
    assert_eq!(sign(TOKEN, URL, &mixed), hmac_of(&format!("{URL}Totbodyb")));
    assert_ne!(sign(TOKEN, URL, &mixed), hmac_of(&format!("{URL}bodybTot")));
}

#[test]
fn validates_json_bodies() {
    let with_hash = format!("{URL}&bodySHA256={JSON_BODY_HASH}");
    let only_hash = format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}");
    let chopped_hash = &with_hash[..with_hash.len() - 1];
    let upper_hash = format!("{URL}&bodySHA256={}", JSON_BODY_HASH.to_uppercase());
    let twice = format!("{with_hash}&bodySHA256={JSON_BODY_HASH}");
    let empty_object_url = format!("{URL}&bodySHA256={EMPTY_OBJECT_HASH}");
    let twice_signature = sign(TOKEN, &twice, &[]);
    let body = JSON_BODY.as_bytes();
    // (source, url, body, header, expected)
    type Case<'a> = (&'a str, &'a str, &'a [u8], Option<&'a str>, bool);
    let cases: Vec<Case> = vec![
        (
            "node: empty object, default port added",
            &empty_object_url,
            b"{}",
            Some("Ldidvp12m26NI7eqEvxnEpkd9Hc="),
            true,
        ),
        (
            "all: body with hash",
            &with_hash,
            body,
            Some("a9nBmqA0ju/hNViExpshrM61xv4="),
            true,
        ),
        (
            "node/go/java: only sha param",
            &only_hash,
            body,
            Some("y77kIzt2vzLz71DgmJGsen2scGs="),
            true,
        ),
        (
            "java/node: no bodySHA256 param",
            URL,
            body,
            Some(SIGNATURE),
            false,
        ),
        ("go: wrong signature", URL, body, Some(SIGNATURE), false),
        (
            "node middleware: hash chopped",
            chopped_hash,
            body,
            Some("a9nBmqA0ju/hNViExpshrM61xv4="),
            false,
        ),
        (
            "tampered body",
            &with_hash,
            b"{\"property\": \"value\", \"boolean\": false}",
            Some("a9nBmqA0ju/hNViExpshrM61xv4="),
            false,
        ),
        (
            "re-serialised body",
            &with_hash,
            br#"{"property":"value","boolean":true}"#,
            Some("a9nBmqA0ju/hNViExpshrM61xv4="),
            false,
        ),
        ("missing header", &with_hash, body, None, false),
        // Upper-case hex is the same hash, but the URL bytes differ, so the signature must too.
        (
            "upper-case hash, original signature",
            &upper_hash,
            body,
            Some("a9nBmqA0ju/hNViExpshrM61xv4="),
            false,
        ),
        (
            "bodySHA256 repeated",
            &twice,
            body,
            Some(twice_signature.as_str()),
            false,
        ),
    ];
    for (source, url, body, header, expected) in cases {
        assert_eq!(
            validate_json_body(TOKEN, url, body, header),
            expected,
            "{source}"
        );
    }
    assert_eq!(
        body_sha256_hex(body),
        JSON_BODY_HASH,
        "python/java: body hash"
    );
    assert_eq!(
        body_sha256_hex(b"{}"),
        EMPTY_OBJECT_HASH,
        "node: empty object hash"
    );
}

#[test]
fn builds_json_body_urls_that_validate() {
    let body = JSON_BODY.as_bytes();
    let cases = [
        (URL, format!("{URL}&bodySHA256={JSON_BODY_HASH}")),
        (
            "https://mycompany.com/myapp.php",
            format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}"),
        ),
        (
            "https://mycompany.com/myapp.php?",
            format!("https://mycompany.com/myapp.php?bodySHA256={JSON_BODY_HASH}"),
        ),
        (
            "https://mycompany.com/a?x=1#frag",
            format!("https://mycompany.com/a?x=1&bodySHA256={JSON_BODY_HASH}#frag"),
        ),
    ];
    for (url, expected) in cases {
        let signed_url = url_with_body_sha256(url, body);
        assert_eq!(signed_url, expected, "{url}");
        let signature = sign(TOKEN, &signed_url, &[]);
        assert!(
            validate_json_body(TOKEN, &signed_url, body, Some(&signature)),
            "{url}"
        );
    }
}

#[test]
fn url_candidates_cover_port_and_userinfo_variants() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "https://mycompany.com/a?b=1",
            vec![
                "https://mycompany.com/a?b=1",
                "https://mycompany.com:443/a?b=1",
            ],
        ),
        (
            "http://mycompany.com:1234/a",
            vec!["http://mycompany.com:1234/a", "http://mycompany.com/a"],
        ),
        (
            "https://u:p@h.com:443?q",
            vec![
                "https://u:p@h.com:443?q",
                "https://u:p@h.com?q",
                "https://h.com?q",
                "https://h.com:443?q",
            ],
        ),
        ("HTTPS://h.com", vec!["HTTPS://h.com", "HTTPS://h.com:443"]),
        (
            "http://[::1]:8080/x",
            vec!["http://[::1]:8080/x", "http://[::1]/x"],
        ),
        (
            "https://[::1]/x",
            vec!["https://[::1]/x", "https://[::1]:443/x"],
        ),
        // `host:` with an empty port: tried as given, then normalised.
        (
            "https://h.com:/x",
            vec!["https://h.com:/x", "https://h.com/x", "https://h.com:443/x"],
        ),
        // Unknown scheme: no default port to add.
        ("wss://h.com/x", vec!["wss://h.com/x"]),
        // Not something we can split: only the string as given.
        ("/relative?x=1", vec!["/relative?x=1"]),
        ("https://h.com:abc/x", vec!["https://h.com:abc/x"]),
        ("https://[::1/x", vec!["https://[::1/x"]),
    ];
    for (url, expected) in cases {
        assert_eq!(signed_url_candidates(url), expected, "{url}");
    }
}

#[test]
fn finds_the_body_hash_parameter() {
    let cases = [
        ("https://h.com/?bodySHA256=ab", Some("ab")),
        ("https://h.com/?a=1&bodySHA256=ab&c=2", Some("ab")),
        ("https://h.com/?bodySHA256=ab#bodySHA256=cd", Some("ab")),
        ("https://h.com/?xbodySHA256=ab", None),
        ("https://h.com/?bodysha256=ab", None),
        ("https://h.com/bodySHA256=ab", None),
        ("https://h.com/?bodySHA256=ab&bodySHA256=ab", None),
    ];
    for (url, expected) in cases {
        assert_eq!(query_param(url, BODY_SHA256_PARAM), expected, "{url}");
    }
}
