//! Delivers notifications for the core's `Notifier` port through the connectors: SMTP mail and signed webhooks.

use certwright_connectors::notify::{Email, Mailer, SmtpConfig, SmtpSecurity, WebhookSender};
use certwright_core::notify::{Delivery, DeliveryError, Message, Notifier};
use std::time::Duration;

/// Mail through the configured relay (when one is), webhooks over HTTP(S).
#[derive(Debug)]
pub struct ConnectorNotifier {
    mailer: Option<Mailer>,
    webhooks: WebhookSender,
}

impl ConnectorNotifier {
    /// A notifier for `config`'s SMTP relay (`smtp_host` unset: e-mail rules fail with a message saying so).
    pub fn new(config: &crate::config::Config) -> Result<Self, certwright_core::CoreError> {
        let invalid = |m: String| certwright_core::CoreError::invalid("config.invalid_smtp", m);
        let mailer = match &config.smtp_host {
            Some(host) => {
                let security = match config.smtp_security.as_str() {
                    "none" => SmtpSecurity::None,
                    "starttls" => SmtpSecurity::StartTls,
                    "tls" => SmtpSecurity::Tls,
                    other => {
                        return Err(invalid(format!("smtp_security must be none, starttls or tls, got '{other}'")))
                    }
                };
                let smtp = SmtpConfig {
                    host: host.clone(),
                    port: config.smtp_port,
                    security,
                    username: config.smtp_username.clone(),
                    password: config.smtp_password.clone().map(zeroize::Zeroizing::new),
                    from: config.smtp_from.clone(),
                    timeout: Duration::from_secs(30),
                    extra_roots_der: Vec::new(),
                    hello_name: None,
                };
                Some(Mailer::new(&smtp).map_err(|e| invalid(e.to_string()))?)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(format!("webhook client: {e}")))?;
        Ok(Self { mailer, webhooks: WebhookSender::new(http, Duration::from_secs(15)) })
    }
}

impl Notifier for ConnectorNotifier {
    fn email<'a>(&'a self, to: &'a [String], message: &'a Message) -> Delivery<'a> {
        Box::pin(async move {
            let Some(mailer) = &self.mailer else {
                return Err(DeliveryError {
                    retryable: false,
                    message: "no SMTP relay is configured (smtp_host)".to_owned(),
                });
            };
            let email = Email { to: to.to_vec(), subject: message.subject.clone(), text_body: message.text.clone() };
            mailer.send(&email).await.map_err(|e| DeliveryError { retryable: e.is_retryable(), message: e.to_string() })
        })
    }

    fn webhook<'a>(
        &'a self,
        url: &'a str,
        secret: &'a [u8],
        delivery_id: &'a str,
        message: &'a Message,
    ) -> Delivery<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(&message.data)
                .map_err(|e| DeliveryError { retryable: false, message: e.to_string() })?;
            self.webhooks
                .post(url, secret, delivery_id, &message.event, &body)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError { retryable: e.retryable, message: e.to_string() })
        })
    }
}
