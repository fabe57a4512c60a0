//! E-mail over SMTP (RFC 5321) with `lettre`: plain, STARTTLS (RFC 3207) or implicit TLS (RFC 8314), optional
//! AUTH, on rustls with the aws-lc provider. One connection per message; the caller's job runner retries.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// No TLS (a relay on the same host or a trusted network). Credentials are refused in this mode.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Where and how to send mail.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The relay's port (25, 465, 587, …).
    pub port: u16,
    /// Transport protection.
    pub security: SmtpSecurity,
    /// AUTH user name, when the relay wants one.
    pub username: Option<String>,
    /// AUTH password.
    pub password: Option<Zeroizing<String>>,
    /// The sender, `name <addr>` or `addr`.
    pub from: String,
    /// Limit for each SMTP command's answer (connect, greeting, each command).
    pub timeout: Duration,
    /// CA certificates (DER) trusted for the relay in addition to the system's trust store.
    pub extra_roots_der: Vec<Vec<u8>>,
    /// The name sent in EHLO (`localhost` when `None`).
    pub hello_name: Option<String>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("extra_roots", &self.extra_roots_der.len())
            .field("hello_name", &self.hello_name)
            .finish()
    }
}

/// A plain-text message.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipients' addresses.
    pub to: Vec<String>,
    /// The subject (any Unicode; encoded per RFC 2047 when needed).
    pub subject: String,
    /// The text body (UTF-8).
    pub text_body: String,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The configuration cannot work (bad sender, credentials without TLS, unusable root certificate).
    #[error("SMTP configuration: {0}")]
    Config(String),
    /// A recipient address or the message itself is invalid: sending again will fail the same way.
    #[error("invalid message: {0}")]
    Message(String),
    /// The relay or the connection failed; `retryable` says whether a later attempt may succeed (network
    /// failures, timeouts and 4xx replies) or not (5xx replies such as an unknown recipient).
    #[error("SMTP delivery failed: {message}")]
    Transport {
        /// Whether trying again later makes sense.
        retryable: bool,
        /// What happened.
        message: String,
    },
}

impl MailError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Transport { retryable: true, .. })
    }
}

/// Sends e-mail through one SMTP relay. Cheap to clone and share.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the configuration and prepares the transport (no connection is made until [`Mailer::send`]).
    pub fn new(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let from: Mailbox =
            config.from.parse().map_err(|e| MailError::Config(format!("sender {:?}: {e}", config.from)))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        if config.security != SmtpSecurity::None {
            let mut params = TlsParameters::builder(config.host.clone());
            for der in &config.extra_roots_der {
                let cert = Certificate::from_der(der.clone())
                    .map_err(|e| MailError::Config(format!("extra root certificate: {e}")))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| MailError::Config(format!("TLS: {e}")))?;
            builder = builder.tls(match config.security {
                SmtpSecurity::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                if config.security == SmtpSecurity::None {
                    return Err(MailError::Config(
                        "SMTP credentials need starttls or tls: they would cross the network in clear".into(),
                    ));
                }
                builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
            }
            (None, None) => {}
            _ => return Err(MailError::Config("give both username and password, or neither".into())),
        }
        if let Some(name) = &config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(Mailer { transport: builder.build(), from })
    }

    /// Sends `email` to all its recipients in one SMTP transaction.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        if email.to.is_empty() {
            return Err(MailError::Message("no recipient".into()));
        }
        let mut builder = Message::builder().from(self.from.clone()).subject(email.subject.clone());
        for to in &email.to {
            let mailbox: Mailbox = to.parse().map_err(|e| MailError::Message(format!("recipient {to:?}: {e}")))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(email.text_body.clone())
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Transport { retryable: !e.is_permanent(), message: error_chain(&e) })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "certwright <pki@example.org>".into(),
            timeout: Duration::from_secs(5),
            extra_roots_der: vec![],
            hello_name: None,
        }
    }

    #[test]
    fn credentials_without_tls_are_refused_and_secrets_are_redacted() {
        let mut c = config();
        c.username = Some("u".into());
        c.password = Some(Zeroizing::new("hunter2".into()));
        assert!(matches!(Mailer::new(&c), Err(MailError::Config(_))));
        assert!(!format!("{c:?}").contains("hunter2"));
        c.security = SmtpSecurity::StartTls;
        assert!(Mailer::new(&c).is_ok());
        c.password = None;
        assert!(matches!(Mailer::new(&c), Err(MailError::Config(_))));
    }

    #[test]
    fn a_bad_sender_is_a_config_error() {
        let mut c = config();
        c.from = "not an address".into();
        assert!(matches!(Mailer::new(&c), Err(MailError::Config(_))));
    }

    #[tokio::test]
    async fn bad_recipients_are_permanent_message_errors() {
        let mailer = Mailer::new(&config()).unwrap();
        let mut email = Email { to: vec![], subject: "s".into(), text_body: "b".into() };
        assert!(matches!(mailer.send(&email).await, Err(MailError::Message(_))));
        email.to = vec!["no at sign".into()];
        let err = mailer.send(&email).await.unwrap_err();
        assert!(matches!(err, MailError::Message(_)) && !err.is_retryable(), "{err}");
    }
}
