//! Expiry monitoring with a clock the test moves: a certificate crosses into its renewal window, and the scan
//! delivers one e-mail to a real SMTP server (Python's `aiosmtpd`, Debian `python3-aiosmtpd`), one webhook whose
//! signature `openssl dgst -hmac` recomputes, and an auto-renewal linked to the old certificate; scanning again
//! sends nothing new.

use certwright_core::auth::Ctx;
use certwright_core::clock::{Clock, ManualClock};
use certwright_core::services::{IssueRequest, NewRuleRequest, Services};
use certwright_server::config::{Config, Settings};
use certwright_store::SqlStore;
use certwright_testkit::process::{free_port, Killed};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: i64 = 86_400;

/// aiosmtpd storing what it receives in `maildir`.
async fn smtp_sink(maildir: &Path) -> (u16, Killed) {
    let port = free_port();
    // Debian's aiosmtpd command (its module lives in the system python, which `python3` on PATH may not be).
    let child = Command::new("aiosmtpd")
        .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd (apt-get install python3-aiosmtpd; scripts/test.sh does)");
    let child = Killed(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (port, child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aiosmtpd did not listen on {port}: is python3-aiosmtpd installed?");
}

/// The messages in a maildir (new/).
fn mails(maildir: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(maildir.join("new")) else { return Vec::new() };
    dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect()
}

/// What a webhook receiver got: (signature header, body) per delivery.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let sig =
                    headers.get("certwright-signature").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                seen.lock().unwrap().push((sig, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// `HMAC-SHA256(secret, "<t>." + body)` computed by openssl, compared with the header's `v1`.
fn openssl_accepts(secret: &str, header: &str, body: &[u8], dir: &Path) -> bool {
    let t = header.split(',').find_map(|p| p.strip_prefix("t=")).unwrap();
    let v1 = header.split(',').find_map(|p| p.strip_prefix("v1=")).unwrap();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    let file = dir.join("signed-payload");
    std::fs::write(&file, signed).unwrap();
    let out = Command::new("openssl").args(["dgst", "-sha256", "-hmac", secret]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().rsplit(' ').next() == Some(v1)
}

async fn drain(services: &Services<SqlStore>) {
    let mut idle = 0;
    while idle < 2 {
        if services.run_due_jobs().await.unwrap() == 0 {
            idle += 1;
        } else {
            idle = 0;
        }
    }
}

#[tokio::test]
async fn crossing_the_window_mails_once_posts_once_and_renews_once() {
    certwright_testkit::install_crypto_provider();
    let data = tempfile::tempdir().unwrap();
    let maildir = data.path().join("maildir");
    let (smtp_port, _sink) = smtp_sink(&maildir).await;
    let (hook_url, hooks) = receiver().await;

    let clock = Arc::new(ManualClock::at(certwright_core::clock::SystemClock.now()));
    let settings = Settings {
        data_dir: data.path().join("data"),
        config_file: None,
        config: Config {
            smtp_host: Some("127.0.0.1".to_owned()),
            smtp_port,
            smtp_security: "none".to_owned(),
            smtp_from: "certwright@example.com".to_owned(),
            ..Config::default()
        },
    };
    let services = certwright_server::bootstrap::open_with_clock(&settings, clock.clone()).await.unwrap().services;
    let ctx = Ctx::system();
    let issuing = services.find_ra_profile("default").await.unwrap().authority_id;
    let authority = services.list_authorities(&ctx).await.unwrap().into_iter().find(|a| a.id == issuing).unwrap();
    let policy = certwright_core::ca::Policy {
        auto_renew: true,
        renewal_window_days: 30,
        default_validity_days: 90,
        ..Default::default()
    };
    services.create_ra_profile(&ctx, "auto", authority.uuid, policy).await.unwrap();
    let mail_rule = NewRuleRequest {
        name: "ops-mail".to_owned(),
        channel: "email".to_owned(),
        targets: vec!["ops@example.com".to_owned()],
        days_before: vec![30, 7],
        ..Default::default()
    };
    services.create_notification_rule(&ctx, mail_rule).await.unwrap();
    let secret = "0123456789abcdef-webhook-secret";
    let hook_rule = NewRuleRequest {
        name: "ops-hook".to_owned(),
        channel: "webhook".to_owned(),
        targets: vec![hook_url],
        secret: Some(secret.to_owned()),
        days_before: vec![30],
        ..Default::default()
    };
    services.create_notification_rule(&ctx, hook_rule).await.unwrap();
    let req = IssueRequest {
        ra_profile: "auto".to_owned(),
        common_name: Some("svc.example.com".to_owned()),
        validity_days: Some(60),
        ..Default::default()
    };
    let old = services.issue(&ctx, req).await.unwrap().record;

    // 60 days left: nothing to do.
    let report = services.expiry_scan().await.unwrap();
    assert_eq!((report["renewals_queued"].as_u64(), report["notifications_queued"].as_u64()), (Some(0), Some(0)));
    drain(&services).await;
    assert!(mails(&maildir).is_empty());

    // 29 days left: inside the window and past the 30-day threshold.
    clock.advance(31 * DAY);
    let report = services.expiry_scan().await.unwrap();
    assert_eq!(report["renewals_queued"], 1, "{report}");
    assert_eq!(report["notifications_queued"], 2, "{report}");
    drain(&services).await;

    let got = mails(&maildir);
    assert_eq!(got.len(), 1, "one e-mail");
    assert!(got[0].contains("To: ops@example.com"), "{}", got[0]);
    assert!(got[0].contains("Subject: Certificate svc.example.com expires in 29 day(s)"), "{}", got[0]);
    assert!(got[0].contains(&old.serial), "{}", got[0]);
    let posted = hooks.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "one webhook");
    let (header, body) = &posted[0];
    assert!(openssl_accepts(secret, header, body, data.path()), "openssl recomputes the signature: {header}");
    let event: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event"], "certificate.expiring");
    assert_eq!(event["certificate"], old.uuid.to_string());
    assert_eq!(event["threshold_days"], 30);

    let links = services.certificate_links(&ctx, &old).await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].kind.as_str(), "renewed_from");
    let (renewed, _) = services.certificate(&ctx, links[0].certificate).await.unwrap();
    assert_eq!(renewed.not_after, clock.now() + 90 * DAY, "the renewal gets the profile's default validity");

    // Scanning again (the next day) sends nothing new and renews nothing twice.
    clock.advance(DAY);
    let report = services.expiry_scan().await.unwrap();
    assert_eq!((report["renewals_queued"].as_u64(), report["notifications_queued"].as_u64()), (Some(0), Some(0)));
    drain(&services).await;
    assert_eq!(mails(&maildir).len(), 1);
    assert_eq!(hooks.lock().unwrap().len(), 1);

    // At 6 days left the old certificate is told nothing more: it has a successor.
    clock.advance(22 * DAY);
    let report = services.expiry_scan().await.unwrap();
    assert_eq!(report["notifications_queued"], 0, "{report}");
    // A certificate nothing replaces, 5 days from expiry, crosses the 7-day threshold of the mail rule (its
    // nearest) and the 30-day one of the webhook rule.
    let req = IssueRequest {
        ra_profile: "default".to_owned(),
        common_name: Some("lonely.example.com".to_owned()),
        validity_days: Some(5),
        ..Default::default()
    };
    services.issue(&ctx, req).await.unwrap();
    let report = services.expiry_scan().await.unwrap();
    assert_eq!(report["notifications_queued"], 2, "{report}");
    drain(&services).await;
    let got = mails(&maildir);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().any(|m| m.contains("Certificate lonely.example.com expires in 4 day(s)")
            || m.contains("Certificate lonely.example.com expires in 5 day(s)")),
        "{got:?}"
    );
    assert!(got.iter().any(|m| m.contains("7-day notice")), "{got:?}");
    assert_eq!(hooks.lock().unwrap().len(), 2);

    // A rule on events: revoking the renewed certificate posts one signed event.
    let (hook_url, events) = receiver().await;
    let on_revoke = NewRuleRequest {
        name: "on-revoke".to_owned(),
        channel: "webhook".to_owned(),
        targets: vec![hook_url],
        secret: Some(secret.to_owned()),
        events: vec!["certificate.revoke".to_owned()],
        ..Default::default()
    };
    services.create_notification_rule(&ctx, on_revoke).await.unwrap();
    let req = certwright_core::services::RevokeRequest {
        reason: certwright_core::revocation::RevocationReason::Superseded,
        invalidity_date: None,
        destroy_key: false,
    };
    services.revoke_certificate(&ctx, renewed.uuid, &req).await.unwrap();
    drain(&services).await;
    let posted = events.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert!(openssl_accepts(secret, &posted[0].0, &posted[0].1, data.path()));
    let event: serde_json::Value = serde_json::from_slice(&posted[0].1).unwrap();
    assert_eq!(event["event"], "certificate.revoke");
    assert_eq!(event["object"], renewed.uuid.to_string());
    assert_eq!(event["details"]["reason"], "superseded");
}
