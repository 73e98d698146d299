//! A teammate's reply to a forwarded text, received by e-mail: sent to the contact as an
//! SMS from the number they texted, as that teammate, through the one send path
//! (`send_request::request_send`: consent — STOP wins —, queue limit, pacing, `SendManual`,
//! the CRM note). When it cannot be sent, the teammate gets a short e-mail saying why, once.
//!
//! A repeat delivery of the same e-mail (its `Message-ID`) does nothing more: the e-mail is
//! claimed before anything happens and what became of it kept with the claim; the send
//! request itself carries a request id derived from the same digest, so even a handler that
//! died between queueing the SMS and keeping the outcome does not send it twice.
//!
//! Who may answer: any user of the account the reply address belongs to (the one the text
//! was routed to, or a teammate it was passed on to); the SMS goes out as whoever answered.
//! Mail the receiving service judged a virus or spam, or whose sender failed DMARC (or both
//! SPF and DKIM), is dropped without an answer: its `From` cannot be trusted, and answering
//! it would send mail to whoever was impersonated. A refusal is told to the account user
//! who wrote; to a sender who is not one (an unknown address, a stranger) only when the
//! receiving service vouched for the `From` (DMARC, or SPF and DKIM, passed).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Unavailable;
use super::answers::{self, Claimed};
use super::send_request::{SendOutcome, request_send};
use crate::app::App;
use crate::domain::email_reply::{Attachment, EmailReadError, ReceivedEmail, read_email};
use crate::domain::merge;
use crate::domain::reply_address::{ReplyGrant, ReplyToken};
use crate::domain::reply_media::{mms_pictures, sends_mms};
use crate::domain::send_content::MAX_BODY_LENGTH;
use crate::domain::send_request::SendFields;
use crate::domain::{Account, EmailAddress, IdempotencyKey, User};
use crate::ports::{ClaimTerms, Email, Picture};

/// How long a received e-mail is remembered (mail servers retry for days).
const SEEN_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the receiving service said of the message (SES's receipt verdicts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    pub spam: Verdict,
    pub virus: Verdict,
    pub spf: Verdict,
    pub dkim: Verdict,
    pub dmarc: Verdict,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Pass,
    Fail,
    Gray,
    ProcessingFailed,
    /// Not checked (a check turned off, or no verdict given).
    #[default]
    Disabled,
}

/// What became of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ReplyOutcome {
    /// Queued for sending as `user`.
    Sent { message_id: String, user: String },
    /// Not sent; `told` is who was e-mailed why (nobody when the sender is not a teammate).
    Refused {
        code: String,
        detail: String,
        told: Option<EmailAddress>,
    },
    /// Not sent and not answered: not a message, or mail that cannot be trusted.
    Dropped { why: String },
    /// A repeat delivery of an e-mail already handled.
    Repeat,
}

/// Handles one received e-mail for the deployment's reply domain.
pub async fn answer_by_email(
    app: &App,
    reply_domain: &str,
    raw: &[u8],
    verdicts: &Verdicts,
) -> Result<ReplyOutcome, Unavailable> {
    let email = match read_email(raw) {
        Ok(email) => email,
        Err(EmailReadError::NotMime) => {
            return Ok(dropped("the message is not MIME"));
        }
    };
    if let Some(why) = untrusted(verdicts) {
        return Ok(dropped(why));
    }
    let digest = digest(&email, raw);
    let key = IdempotencyKey::email_reply(&digest);
    let terms = ClaimTerms {
        keep: SEEN_FOR,
        lease: app.settings.leases.request,
    };
    let now = app.clock.now();
    match answers::claim::<ReplyOutcome>(app.store.as_ref(), &key, terms, now).await {
        Ok(Claimed::First { .. }) => {}
        Ok(Claimed::Answered(_)) => return Ok(ReplyOutcome::Repeat),
        Ok(Claimed::InProgress) => {
            return Err(Unavailable("the same e-mail is being handled".into()));
        }
        Err(e) => return Err(Unavailable(format!("cannot claim the e-mail: {e}"))),
    }
    let received = Received {
        email: &email,
        verdicts,
        key: &key,
        digest: &digest,
    };
    let result = handle(app, reply_domain, &received).await;
    answers::settle(app.store.as_ref(), &key, result.as_ref().ok()).await;
    result
}

/// Why mail cannot be trusted to come from its `From`, if so.
fn untrusted(verdicts: &Verdicts) -> Option<&'static str> {
    if verdicts.virus == Verdict::Fail {
        Some("the receiving service found a virus")
    } else if verdicts.spam == Verdict::Fail {
        Some("the receiving service judged it spam")
    } else if verdicts.dmarc == Verdict::Fail
        || (verdicts.spf == Verdict::Fail && verdicts.dkim == Verdict::Fail)
    {
        Some("its sender failed authentication (DMARC, or both SPF and DKIM)")
    } else {
        None
    }
}

fn dropped(why: &str) -> ReplyOutcome {
    tracing::warn!(why, "reply e-mail dropped");
    ReplyOutcome::Dropped { why: why.into() }
}

/// The e-mail's `Message-ID`, else the whole message, as a digest.
fn digest(email: &ReceivedEmail, raw: &[u8]) -> String {
    let named = email
        .message_id
        .as_deref()
        .map(str::as_bytes)
        .unwrap_or(raw);
    hex::encode(Sha256::digest(named))
}

/// A received e-mail under its claim.
struct Received<'a> {
    email: &'a ReceivedEmail,
    verdicts: &'a Verdicts,
    key: &'a IdempotencyKey,
    /// Names what the e-mail leaves behind (its pictures).
    digest: &'a str,
}

impl Received<'_> {
    /// Who hears of a refusal: the account user who wrote, else the `From` when the
    /// receiving service vouched for it, else nobody.
    fn tell(&self, account: Option<&Account>) -> Option<EmailAddress> {
        if let Some(user) = account.and_then(|a| sender(a, self.email)) {
            return Some(user.email.clone());
        }
        let v = self.verdicts;
        let vouched =
            v.dmarc == Verdict::Pass || (v.spf == Verdict::Pass && v.dkim == Verdict::Pass);
        let from = self.email.from.as_deref().filter(|_| vouched)?;
        EmailAddress::parse(from).ok()
    }
}

/// The reply under its claim: its address, its sender, its text, then the send.
async fn handle(
    app: &App,
    reply_domain: &str,
    received: &Received<'_>,
) -> Result<ReplyOutcome, Unavailable> {
    let (account, grant) = match addressed(app, reply_domain, received).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal),
    };
    let email = received.email;
    let Some(user) = sender(&account, email) else {
        let detail = "Only the account's users can answer its texts by e-mail.".to_string();
        let told = received.tell(None);
        return refuse(app, told, email, "sender_not_allowed", detail).await;
    };
    let told = Some(user.email.clone());
    let (text, pictures) = match what_to_text(email, &account, &grant) {
        Ok(texted) => texted,
        Err((code, detail)) => return refuse(app, told, email, code, detail).await,
    };
    let media = share_pictures(app, &pictures, received.digest).await?;
    let reply = Reply {
        grant: &grant,
        user,
        text: &text,
        media: &media,
    };
    send_as(app, &account, &reply, received).await
}

/// The new text and the pictures to send with it, or the refusal's code and detail.
fn what_to_text<'a>(
    email: &'a ReceivedEmail,
    account: &Account,
    grant: &ReplyGrant,
) -> Result<(String, Vec<&'a Attachment>), (&'static str, String)> {
    let text = email.new_text();
    let attached: Vec<&Attachment> = email.attached().collect();
    let mms = sends_mms(account, &grant.our_number, &grant.contact_phone);
    let pictures = mms_pictures(&attached, &grant.our_number, mms)
        .map_err(|refusal| ("attachments_not_sent", refusal.to_string()))?;
    if text.trim().is_empty() && pictures.is_empty() {
        let detail = "Nothing was left to text once the quoted message and signature were taken out. Write your answer above the quoted text.";
        return Err(("empty_reply", detail.to_string()));
    }
    let length = text.chars().count();
    if length > MAX_BODY_LENGTH {
        let detail =
            format!("The answer is {length} characters long; a text can hold {MAX_BODY_LENGTH}.");
        return Err(("reply_too_long", detail));
    }
    Ok((text, pictures))
}

/// How long a reply's pictures can be fetched: the send is transactional (never held for
/// quiet hours), so the provider fetches them within minutes; a day covers retries.
const PICTURES_VALID_FOR: Duration = Duration::from_secs(24 * 3600);

/// Each picture kept where the provider can fetch it: their URLs. Keys derive from the
/// e-mail, so a handler that dies and is retried keeps them under the same names.
async fn share_pictures(
    app: &App,
    pictures: &[&Attachment],
    digest: &str,
) -> Result<Vec<String>, Unavailable> {
    let mut urls = Vec::with_capacity(pictures.len());
    for (index, picture) in pictures.iter().enumerate() {
        let extension = picture.content_type.rsplit('/').next().unwrap_or("bin");
        let key = format!("{}-{index}.{extension}", &digest[..32.min(digest.len())]);
        let shared = Picture {
            key: &key,
            content_type: &picture.content_type,
            bytes: &picture.bytes,
        };
        let url = app
            .media
            .share(shared, PICTURES_VALID_FOR)
            .await
            .map_err(|e| Unavailable(format!("cannot keep the picture: {e}")))?;
        urls.push(url);
    }
    Ok(urls)
}

/// The account and grant the reply address names, or the refusal to tell its sender.
async fn addressed(
    app: &App,
    reply_domain: &str,
    received: &Received<'_>,
) -> Result<Result<(Account, ReplyGrant), ReplyOutcome>, Unavailable> {
    let email = received.email;
    let Some(token) = ReplyToken::find_in(&email.recipients, reply_domain) else {
        return Ok(Err(dropped(
            "no reply address of this deployment among the recipients",
        )));
    };
    let now = app.clock.now();
    let grant = app
        .store
        .reply_grant(&token, now)
        .await
        .map_err(|e| Unavailable(format!("cannot read the reply address: {e}")))?;
    let Some(grant) = grant else {
        let detail = "This reply address is unknown or has expired: answer from a newer forward, or text the contact from smsflow.".to_string();
        let told = received.tell(None);
        return Ok(Err(refuse(
            app,
            told,
            email,
            "unknown_reply_address",
            detail,
        )
        .await?));
    };
    let account = match app.store.account(&grant.account).await {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Err(dropped("the reply address's account is gone"))),
        Err(e) => return Err(Unavailable(format!("cannot read the account: {e}"))),
    };
    if let Err(refusal) = grant.check(&account, now) {
        let told = received.tell(Some(&account));
        let refused = refuse(app, told, email, refusal.code(), refusal.to_string()).await?;
        return Ok(Err(refused));
    }
    Ok(Ok((account, grant)))
}

/// The account user who sent the e-mail, by its `From`.
fn sender<'a>(account: &'a Account, email: &ReceivedEmail) -> Option<&'a User> {
    let from = email.from.as_deref()?;
    account.find_user(from).ok()
}

/// What a teammate answered, and as whom it goes out.
struct Reply<'a> {
    grant: &'a ReplyGrant,
    user: &'a User,
    text: &'a str,
    /// The pictures' URLs.
    media: &'a [String],
}

/// The text sent as its user through the one send path; a refusal there (opted out, queue
/// full) is told to the user.
async fn send_as(
    app: &App,
    account: &Account,
    reply: &Reply<'_>,
    received: &Received<'_>,
) -> Result<ReplyOutcome, Unavailable> {
    let Reply {
        grant,
        user,
        text,
        media,
    } = reply;
    let mut fields = SendFields::default();
    fields.extend([
        ("phone".to_string(), grant.contact_phone.to_string()),
        ("from".to_string(), grant.our_number.to_string()),
        ("user".to_string(), user.id.clone()),
        ("type".to_string(), "transactional".to_string()),
        ("message".to_string(), merge::literal(text)),
        ("requestId".to_string(), received.key.as_str().to_string()),
    ]);
    fields.extend(media.iter().map(|url| ("media".to_string(), url.clone())));
    let answer = request_send(app, account, &fields).await?;
    match (answer.outcome, answer.message_id) {
        (SendOutcome::Queued, Some(message_id)) => Ok(ReplyOutcome::Sent {
            message_id: message_id.to_string(),
            user: user.id.clone(),
        }),
        (SendOutcome::InProgress, _) => Err(Unavailable("the same reply is being sent".into())),
        (_, _) => {
            let code = answer.code.unwrap_or_else(|| "not_sent".into());
            let detail = answer.detail.unwrap_or_default();
            let told = Some(user.email.clone());
            refuse(app, told, received.email, &code, detail).await
        }
    }
}

/// Tells `told` (when someone may be told) why the reply was not texted.
async fn refuse(
    app: &App,
    told: Option<EmailAddress>,
    email: &ReceivedEmail,
    code: &str,
    detail: String,
) -> Result<ReplyOutcome, Unavailable> {
    tracing::info!(code, "reply e-mail not texted");
    let (Some(from), Some(to)) = (app.settings.mail_from.clone(), told.clone()) else {
        return Ok(ReplyOutcome::Refused {
            code: code.to_string(),
            detail,
            told: None,
        });
    };
    let subject = email.subject.as_deref().unwrap_or("your reply");
    let notice = Email {
        from,
        to: vec![to],
        reply_to: None,
        subject: format!("Not texted: {subject}"),
        text: format!("Your reply was not sent as a text.\n\n{detail}\n\n(code: {code})\n"),
    };
    app.mailer
        .send(&notice)
        .await
        .map_err(|e| Unavailable(format!("cannot e-mail the refusal: {e}")))?;
    Ok(ReplyOutcome::Refused {
        code: code.to_string(),
        detail,
        told,
    })
}
