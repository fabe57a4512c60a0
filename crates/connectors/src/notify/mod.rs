//! Notification delivery: e-mail through an SMTP relay (`Mailer`) and signed webhooks (`WebhookSender`, with
//! `sign`/`verify` for the `Certwright-Signature` header). Deciding what to send and when belongs to core; this
//! module only delivers and says whether a failure is worth retrying.

mod mail;
mod webhook;

pub use mail::{Email, MailError, Mailer, SmtpConfig, SmtpSecurity};
pub use webhook::{
    sign, verify, Delivered, DeliveryError, SignatureError, WebhookSender, DELIVERY_HEADER, EVENT_HEADER,
    SIGNATURE_HEADER,
};
