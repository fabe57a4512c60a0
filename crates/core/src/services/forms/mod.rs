//! Request forms: recorded and changed until signed, listed with their status, signed (by an authority of this
//! server through the lifecycle engine, or self-signed); organizations. The inventory side (revocation, download,
//! upload with their passwords) is in [`certificates`].

use super::end_entity::hash_password;
use super::issuance::record_of;
use super::{IssueRequest, Issued, Services, Submitted};
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{CertificateRecord, Origin};
use crate::forms::{
    check_text, reason_name, DomainKind, FormFilter, FormStatus, FormView, KeyFamily, Organization, RequestForm,
    Signing, Terms, ValidationLevel, MAX_DESCRIPTION, MAX_ITEMS, MAX_ITSM_CODE, MAX_JUSTIFICATION, MAX_TEXT,
};
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::{Digest, KeyAlgorithm};
use certwright_pki::cert::{self, Extensions, Issuer, Template, Usage};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::{self, San};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

mod certificates;

pub use certificates::{Download, Upload};

const DAY: i64 = 86_400;
/// Longest validity a form may ask for, in days.
const MAX_VALIDITY_DAYS: u32 = 3650;

/// What a create or modify sends; `None` leaves a field as it is (and is an error for a required field of a new
/// form). Empty strings clear optional text.
#[derive(Default)]
#[allow(missing_debug_implementations)] // Holds passwords.
pub struct FormInput {
    pub validation_level: Option<i64>,
    pub domain_kind: Option<DomainKind>,
    pub organization_id: Option<i64>,
    pub common_name: Option<String>,
    pub sans: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub environments: Option<Vec<String>>,
    pub systems: Option<Vec<String>>,
    pub key_family: Option<KeyFamily>,
    pub key_size: Option<u32>,
    /// `sha256`, `sha384` or `sha512`.
    pub digest: Option<String>,
    pub validity_days: Option<i64>,
    pub key_password: Option<Zeroizing<String>>,
    pub revocation_password: Option<Zeroizing<String>>,
    pub project: Option<String>,
    pub external_ip: Option<String>,
    pub hostname: Option<String>,
    pub justification: Option<String>,
    pub responsible_id: Option<i64>,
    pub description: Option<String>,
}

/// How to sign a form.
#[derive(Debug, Clone, Default)]
pub struct SignInput {
    pub self_signed: bool,
    /// The authority (its integer id) that signs, unless self-signed.
    pub authority_id: Option<i64>,
    /// One of [`crate::forms::REASONS`].
    pub reason: i64,
    pub justification: Option<String>,
    pub itsm_code: Option<String>,
}

/// What signing led to.
#[derive(Debug)]
pub struct SignedForm {
    pub form: FormView,
    /// The certificate, when it was issued at once.
    pub certificate: Option<CertificateRecord>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

fn form_not_found(id: i64) -> CoreError {
    CoreError::not_found("form.not_found", "request", id)
}

/// Optional text: trimmed, empty meaning none, checked.
fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<Option<String>>> {
    value
        .map(|v| {
            let v = v.trim().to_owned();
            check_text(field, &v, max)?;
            Ok(if v.is_empty() { None } else { Some(v) })
        })
        .transpose()
}

/// A DNS name (`*.` allowed first) or an IP address.
fn check_name(field: &str, name: &str) -> Result<San> {
    let san = if name.parse::<std::net::IpAddr>().is_ok() { format!("ip:{name}") } else { format!("dns:{name}") };
    San::parse(&san)
        .map_err(|e| invalid("form.invalid_name", format!("{field} '{name}' is not a DNS name or IP address: {e}")))
}

fn terms_of(kind: &str, names: Vec<String>) -> Result<Vec<String>> {
    if names.len() > MAX_ITEMS {
        return Err(invalid("form.too_many", format!("at most {MAX_ITEMS} {kind}s")));
    }
    let names: Vec<String> = names.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    for n in &names {
        check_text(kind, n, MAX_TEXT)?;
    }
    Ok(crate::seq::unique_in_order(names))
}

/// The checks that involve several fields: domain kind against names, digest against key family, sizes.
fn check_form(f: &RequestForm) -> Result<()> {
    let cn = f.common_name.as_str();
    if cn.is_empty() || cn.chars().count() > 64 {
        return Err(invalid("form.invalid_name", "common_name must be 1 to 64 characters"));
    }
    check_name("common_name", cn)?;
    match f.domain_kind {
        DomainKind::Wildcard if !cn.starts_with("*.") => {
            return Err(invalid("form.wildcard_name", "domain_type WILD needs a common_name that starts with '*.'"))
        }
        DomainKind::Single | DomainKind::Multiple if cn.contains('*') => {
            return Err(invalid("form.wildcard_name", "a wildcard common_name needs domain_type WILD"))
        }
        DomainKind::Single if f.sans.len() > 1 => {
            return Err(invalid("form.domain_kind", "domain_type SING allows one name: use MULT for several SANs"))
        }
        DomainKind::Multiple if f.sans.len() < 2 => {
            return Err(invalid("form.domain_kind", "domain_type MULT needs at least two names in san"))
        }
        _ => {}
    }
    if f.sans.len() > MAX_ITEMS {
        return Err(invalid("form.too_many", format!("at most {MAX_ITEMS} SANs")));
    }
    for s in &f.sans {
        check_name("san", s)?;
    }
    if !matches!(f.key_size, 1024 | 2048 | 4096) {
        return Err(invalid("form.key_size", format!("encryption_key_size {} is not 1024, 2048 or 4096", f.key_size)));
    }
    if !matches!(f.digest.as_str(), "sha256" | "sha384" | "sha512") {
        return Err(invalid(
            "form.digest",
            format!("certificate_algorithm '{}' is not SHA256, SHA384 or SHA512", f.digest),
        ));
    }
    if f.key_family == KeyFamily::Dsa && f.digest != "sha256" {
        return Err(invalid("form.digest", "with encryption DSA only certificate_algorithm SHA256 may be used"));
    }
    if f.validity_days == 0 || f.validity_days > MAX_VALIDITY_DAYS {
        return Err(invalid("form.validity", format!("validity must be 1 to {MAX_VALIDITY_DAYS} days")));
    }
    Ok(())
}

/// The names of a form as SANs in API spelling.
fn api_sans(f: &RequestForm) -> Result<Vec<String>> {
    f.sans.iter().map(|s| check_name("san", s).map(|san| san.to_api())).collect()
}

fn digest_of(name: &str) -> Digest {
    match name {
        "sha384" => Digest::Sha384,
        "sha512" => Digest::Sha512,
        _ => Digest::Sha256,
    }
}

/// The key a form asks for, when this server generates such keys.
fn key_algorithm(f: &RequestForm) -> Result<KeyAlgorithm> {
    match (f.key_family, f.key_size) {
        (KeyFamily::Rsa, bits @ (2048 | 4096)) => Ok(KeyAlgorithm::Rsa(bits)),
        (family, bits) => Err(invalid(
            "form.key_not_generated",
            format!(
                "this server does not generate {} keys of {bits} bits (they are breakable): change the request to \
                 RSA with 2048 or 4096 bits",
                family.as_str().to_uppercase()
            ),
        )),
    }
}

/// The hash of a password someone chose (at most 256 characters); `None` for an empty one.
async fn hash_chosen(field: &str, password: Zeroizing<String>) -> Result<Option<String>> {
    if password.chars().count() > 256 {
        return Err(invalid("form.too_long", format!("{field} must be at most 256 characters")));
    }
    if password.is_empty() {
        return Ok(None);
    }
    Ok(Some(hash_password(password.to_string()).await?))
}

/// Requesters work on their own forms only (others' are not found); other roles on every form.
fn check_owner(ctx: &Ctx, form: &RequestForm) -> Result<()> {
    if ctx.caller.role == crate::auth::Role::Requester && form.created_by != ctx.caller.principal {
        return Err(form_not_found(form.id));
    }
    Ok(())
}

/// A form changed by someone else between reading and locking it.
fn changed_meanwhile(id: i64) -> CoreError {
    CoreError::Conflict {
        code: "form.changed",
        message: format!("request {id} was changed meanwhile; read it and retry"),
    }
}

/// How long a claimed signing attempt keeps others from signing the same form.
const SIGN_CLAIM_SECONDS: i64 = 600;

/// Refuses a form another signing attempt holds (one older than [`SIGN_CLAIM_SECONDS`] has expired).
fn check_not_being_signed(form: &RequestForm, now: i64) -> Result<()> {
    if form.sign_attempt.is_some() && form.sign_claimed_at.unwrap_or(0) + SIGN_CLAIM_SECONDS > now {
        return Err(CoreError::Conflict {
            code: "form.signing",
            message: format!("request {} is being signed", form.id),
        });
    }
    Ok(())
}

impl<S: Store> Services<S> {
    // ---- organizations ---------------------------------------------------------------------------------------

    pub async fn organizations(&self, ctx: &Ctx) -> Result<Vec<Organization>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.organizations().await
    }

    pub async fn create_organization(&self, ctx: &Ctx, name: &str) -> Result<Organization> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid("organization.invalid", "name must not be empty"));
        }
        check_text("name", name, 64)?;
        let mut org = Organization {
            id: 0,
            uuid: Uuid::new_v4(),
            name: name.to_owned(),
            created_by: ctx.caller.principal.clone(),
            created_at: self.clock.now(),
        };
        let (mut tx, head) = self.begin().await?;
        org.id = tx.insert_organization(&org).await?;
        let draft = EventDraft::success("organization.create", "organization", org.uuid)
            .with_details(json!({ "id": org.id, "name": org.name }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(org)
    }

    /// The caller's principal code (the integer id forms name a responsible by).
    pub async fn principal_code(&self, ctx: &Ctx) -> Result<Option<i64>> {
        self.store.principal_id(&ctx.caller.principal).await
    }

    // ---- forms -----------------------------------------------------------------------------------------------

    /// One form with its status.
    pub async fn request_form(&self, ctx: &Ctx, id: i64) -> Result<FormView> {
        ctx.caller.require(Permission::ReadInventory)?;
        let filter = FormFilter { id: Some(id), ..Default::default() };
        self.store.list_request_forms(&filter, Page::default()).await?.items.pop().ok_or_else(|| form_not_found(id))
    }

    pub async fn list_request_forms(&self, ctx: &Ctx, filter: &FormFilter, page: Page) -> Result<Listed<FormView>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.list_request_forms(filter, page).await
    }

    /// Creates a form (`id` none) or changes one that is not signed yet. Unknown tags, environments and systems
    /// are added to the catalog; an unknown organization or responsible is an error.
    pub async fn save_request_form(&self, ctx: &Ctx, id: Option<i64>, input: FormInput) -> Result<FormView> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let now = self.clock.now();
        let existing = match id {
            Some(id) => Some(self.request_form(ctx, id).await?),
            None => None,
        };
        if let Some(v) = &existing {
            check_owner(ctx, &v.form)?;
            if !matches!(v.status, FormStatus::Created | FormStatus::Rejected | FormStatus::Failed) {
                return Err(CoreError::Conflict {
                    code: "form.signed",
                    message: format!("request {} is {} and can no longer be changed", v.form.id, v.status.name()),
                });
            }
        }
        let required = |field: &str| invalid("form.missing", format!("{field} is required"));
        let mut form = match existing {
            Some(v) => v.form,
            None => RequestForm {
                id: 0,
                uuid: Uuid::new_v4(),
                // Set from the input below.
                validation_level: ValidationLevel::Domain,
                domain_kind: input.domain_kind.ok_or_else(|| required("domain_type"))?,
                organization_id: input.organization_id.ok_or_else(|| required("organization"))?,
                common_name: input.common_name.clone().ok_or_else(|| required("common_name"))?,
                sans: Vec::new(),
                key_family: input.key_family.ok_or_else(|| required("encryption"))?,
                key_size: input.key_size.ok_or_else(|| required("encryption_key_size"))?,
                digest: input.digest.clone().ok_or_else(|| required("certificate_algorithm"))?,
                validity_days: 0,
                key_password_hash: None,
                revocation_password_hash: None,
                project: None,
                external_ip: None,
                hostname: None,
                justification: None,
                responsible_id: None,
                description: None,
                terms: Terms::default(),
                certificate_uuid: None,
                sign_attempt: None,
                sign_claimed_at: None,
                signing: None,
                created_by: ctx.caller.principal.clone(),
                created_at: now,
                updated_at: now,
            },
        };
        let creating = form.id == 0;
        if creating && input.validation_level.is_none() {
            return Err(required("certificate_type"));
        }
        if creating && input.validity_days.is_none() {
            return Err(required("validity"));
        }
        let as_read = form.clone();
        if let Some(level) = input.validation_level {
            form.validation_level = ValidationLevel::from_code(level)
                .ok_or_else(|| invalid("form.certificate_type", "certificate_type must be 1 (DV), 2 (OV) or 3 (EV)"))?;
        }
        if let Some(kind) = input.domain_kind {
            form.domain_kind = kind;
        }
        if let Some(org) = input.organization_id {
            self.store
                .organization(org)
                .await?
                .ok_or_else(|| CoreError::not_found("form.organization_not_found", "organization", org))?;
            form.organization_id = org;
        }
        let cn_changed = input.common_name.is_some();
        if let Some(cn) = input.common_name {
            form.common_name = cn.trim().to_ascii_lowercase();
        }
        match input.sans {
            Some(sans) => {
                form.sans = crate::seq::unique_in_order(
                    sans.iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()),
                );
            }
            None if cn_changed && (form.sans.is_empty() || form.sans.len() == 1) => form.sans.clear(),
            None => {}
        }
        if form.sans.is_empty() {
            form.sans = vec![form.common_name.clone()];
        }
        if let Some(family) = input.key_family {
            form.key_family = family;
        }
        if let Some(size) = input.key_size {
            form.key_size = size;
        }
        if let Some(digest) = input.digest {
            form.digest = digest.to_ascii_lowercase();
        }
        if let Some(days) = input.validity_days {
            form.validity_days = u32::try_from(days).unwrap_or(0);
        }
        let texts = [
            ("project", input.project, MAX_TEXT, &mut form.project),
            ("external_ip", input.external_ip, MAX_TEXT, &mut form.external_ip),
            ("hostname_ip", input.hostname, MAX_TEXT, &mut form.hostname),
            ("justification", input.justification, MAX_JUSTIFICATION, &mut form.justification),
            ("description", input.description, MAX_DESCRIPTION, &mut form.description),
        ];
        for (field, value, max, slot) in texts {
            if let Some(v) = text(field, value, max)? {
                *slot = v;
            }
        }
        if let Some(r) = input.responsible_id {
            self.store
                .principal_name(r)
                .await?
                .ok_or_else(|| CoreError::not_found("form.responsible_not_found", "responsible", r))?;
            form.responsible_id = Some(r);
        }
        let terms_given = input.tags.is_some() || input.environments.is_some() || input.systems.is_some();
        if let Some(t) = input.tags {
            form.terms.tags = terms_of("tag", t)?;
        }
        if let Some(t) = input.environments {
            form.terms.environments = terms_of("environment", t)?;
        }
        if let Some(t) = input.systems {
            form.terms.systems = terms_of("system", t)?;
        }
        check_form(&form)?;
        for (field, password, slot) in [
            ("key_password", input.key_password, &mut form.key_password_hash),
            ("password_revogation", input.revocation_password, &mut form.revocation_password_hash),
        ] {
            // Sent empty, a password is cleared.
            if let Some(p) = password {
                *slot = hash_chosen(field, p).await?;
            }
        }
        form.updated_at = now;

        let (mut tx, head) = self.begin().await?;
        let mut term_ids = Vec::new();
        if creating || terms_given {
            for (kind, name) in form.terms.all() {
                term_ids.push(tx.ensure_catalog_term(kind, name, now).await?);
            }
        }
        let action = if creating {
            form.id = tx.insert_request_form(&form, &term_ids).await?;
            "form.create"
        } else {
            // Locked, then checked again: a sign or another change may have raced this one.
            let current = tx.request_form_for_update(form.id).await?.ok_or_else(|| form_not_found(form.id))?;
            if current != as_read {
                return Err(changed_meanwhile(form.id));
            }
            check_not_being_signed(&current, now)?;
            tx.update_request_form(&form, terms_given.then_some(term_ids.as_slice())).await?;
            "form.update"
        };
        let draft = EventDraft::success(action, "request_form", form.uuid).with_details(json!({
            "id": form.id, "common_name": form.common_name, "sans": form.sans, "organization": form.organization_id,
            "key": format!("{}-{}", form.key_family.as_str(), form.key_size), "validity_days": form.validity_days,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.request_form(ctx, form.id).await
    }

    /// Signs a form: self-signed here, or submitted to the RA profile of the named authority (approval and
    /// external authorities as the profile says). A form whose earlier attempt was rejected or failed may be
    /// signed again.
    pub async fn sign_request_form(&self, ctx: &Ctx, id: i64, input: SignInput) -> Result<SignedForm> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let view = self.request_form(ctx, id).await?;
        check_owner(ctx, &view.form)?;
        if !matches!(view.status, FormStatus::Created | FormStatus::Rejected | FormStatus::Failed) {
            return Err(CoreError::Conflict {
                code: "form.signed",
                message: format!("request {id} is {} already", view.status.name()),
            });
        }
        if reason_name(input.reason).is_none() {
            return Err(invalid("form.reason", format!("reason {} is not a known reason code", input.reason)));
        }
        let justification = text("justification", input.justification, MAX_JUSTIFICATION)?.flatten();
        let itsm_code = text("itsm_code", input.itsm_code, MAX_ITSM_CODE)?.flatten();
        let form = view.form;
        let algorithm = key_algorithm(&form)?;
        let signing = Signing {
            self_signed: input.self_signed,
            authority_id: None,
            reason: input.reason,
            justification,
            itsm_code,
            signed_by: ctx.caller.principal.clone(),
            signed_at: self.clock.now(),
        };
        let organization = self.store.organization(form.organization_id).await?.ok_or_else(|| {
            CoreError::Storage(format!("organization {} of request {id} is missing", form.organization_id))
        })?;
        let subject_attributes = match form.validation_level {
            ValidationLevel::Domain => Vec::new(),
            _ => vec![("O".to_owned(), organization.name.clone())],
        };
        if input.self_signed {
            // No RA profile is involved: a token limited to profiles may not go around them.
            if !ctx.caller.ra_profiles.is_empty() {
                return Err(CoreError::Forbidden {
                    role: ctx.caller.role.as_str().to_owned(),
                    action: "sign self-signed certificates (the token is limited to RA profiles)",
                });
            }
            let record = self.sign_form_self(ctx, form, signing, algorithm, &subject_attributes).await?;
            return Ok(SignedForm { form: self.request_form(ctx, id).await?, certificate: Some(record) });
        }
        let authority_id =
            input.authority_id.ok_or_else(|| invalid("form.ca_missing", "ca is required when self_signed is 0"))?;
        let snapshot = self.snapshot().await?;
        let mut profiles: Vec<_> = snapshot
            .profiles
            .iter()
            .filter(|p| p.authority_id == authority_id && p.enabled && ctx.caller.may_use_profile(&p.name))
            .collect();
        profiles.sort_by_key(|p| (p.name != "default", p.id));
        let profile = profiles.first().ok_or_else(|| {
            CoreError::not_found("form.ca_not_found", "CA with an enabled RA profile this token may use", authority_id)
        })?;
        let attempt = self.claim_signing(&form).await?;
        let req = IssueRequest {
            ra_profile: profile.uuid.to_string(),
            common_name: Some(form.common_name.clone()),
            sans: api_sans(&form)?,
            key_algorithm: Some(algorithm.name()),
            validity_days: Some(form.validity_days),
            // The attempt's id: a retry after a crash between issuing and linking finds the same certificate.
            idempotency_key: Some(attempt.clone()),
            subject_attributes,
            ..Default::default()
        };
        let submitted = match self.submit(ctx, req).await {
            Ok(s) => s,
            Err(e) => {
                self.release_signing(id, &attempt).await;
                return Err(e);
            }
        };
        let (uuid, key_id, certificate) = match submitted {
            Submitted::Issued(issued) => {
                let Issued { record, .. } = *issued;
                (record.uuid, record.key_id, Some(record))
            }
            Submitted::Pending(p) => (p.request.uuid, p.request.key_id, None),
        };
        let (mut tx, head) = self.begin().await?;
        let mut current = tx.request_form_for_update(id).await?.ok_or_else(|| form_not_found(id))?;
        if current.sign_attempt.as_deref() != Some(attempt.as_str()) {
            return Err(changed_meanwhile(id));
        }
        if let (Some(hash), Some(key_id)) = (&current.key_password_hash, key_id) {
            tx.set_key_password(key_id, hash).await?;
        }
        current.certificate_uuid = Some(uuid);
        current.sign_attempt = None;
        current.sign_claimed_at = None;
        current.signing = Some(Signing { authority_id: Some(authority_id), ..signing });
        current.updated_at = self.clock.now();
        tx.update_request_form(&current, None).await?;
        let draft = EventDraft::success("form.sign", "request_form", current.uuid).with_details(json!({
            "id": id, "certificate": uuid, "authority": authority_id, "ra_profile": profile.name,
            "reason": input.reason, "issued": certificate.is_some(),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(SignedForm { form: self.request_form(ctx, id).await?, certificate })
    }

    /// Claims a form for one signing attempt, unless it changed since it was read or another attempt holds it;
    /// returns the attempt's id.
    async fn claim_signing(&self, read: &RequestForm) -> Result<String> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let mut current = tx.request_form_for_update(read.id).await?.ok_or_else(|| form_not_found(read.id))?;
        check_not_being_signed(&current, now)?;
        // An expired attempt left behind does not count as a change.
        let unclaimed = |f: &RequestForm| RequestForm { sign_attempt: None, sign_claimed_at: None, ..f.clone() };
        if unclaimed(&current) != unclaimed(read) {
            return Err(changed_meanwhile(read.id));
        }
        let attempt = format!("request-form:{}:{}", current.uuid, Uuid::new_v4().simple());
        current.sign_attempt = Some(attempt.clone());
        current.sign_claimed_at = Some(now);
        tx.update_request_form(&current, None).await?;
        tx.commit().await?;
        Ok(attempt)
    }

    /// Lets go of a signing attempt that failed before anything was issued (best effort: an attempt left behind
    /// expires by itself).
    async fn release_signing(&self, id: i64, attempt: &str) {
        let release = async {
            let mut tx = self.store.begin().await?;
            if let Some(mut current) = tx.request_form_for_update(id).await? {
                if current.sign_attempt.as_deref() == Some(attempt) {
                    current.sign_attempt = None;
                    current.sign_claimed_at = None;
                    tx.update_request_form(&current, None).await?;
                }
            }
            tx.commit().await
        };
        if let Err(e) = release.await {
            tracing::warn!(error = %e, request = id, "could not release a signing attempt; it expires by itself");
        }
    }

    /// A self-signed certificate for a form, its key and the form's link, in one transaction.
    async fn sign_form_self(
        &self,
        ctx: &Ctx,
        mut form: RequestForm,
        signing: Signing,
        algorithm: KeyAlgorithm,
        subject_attributes: &[(String, String)],
    ) -> Result<CertificateRecord> {
        let key = PrivateKey::generate(algorithm)?;
        let key = super::scope::signing_digest(key, digest_of(&form.digest))?;
        let escape = certwright_pki::names::escape_value;
        let mut dn = vec![format!("CN={}", escape(&form.common_name))];
        dn.extend(subject_attributes.iter().map(|(k, v)| format!("{k}={}", escape(v))));
        let subject = names::parse_dn(&dn.join(",")).map_err(|e| invalid("form.invalid_name", e.to_string()))?;
        let sans = form.sans.iter().map(|s| check_name("san", s)).collect::<Result<Vec<_>>>()?;
        let now = self.clock.now();
        let ski = key.public_key()?.key_identifier()?;
        let template = Template {
            serial: cert::random_serial()?,
            subject: subject.clone(),
            public_key_der: key.public_key_der(),
            not_before: now - 60,
            not_after: now + i64::from(form.validity_days) * DAY,
            extensions: Extensions {
                key_usage: vec![Usage::DigitalSignature, Usage::KeyEncipherment],
                extended_key_usage: vec![cert::Eku::ServerAuth],
                sans,
                ..Default::default()
            },
        };
        let issued = cert::issue(&template, &Issuer { name: &subject, key_identifier: &ski, signer: &key })?;
        let mut record = record_of(&issued, &algorithm.name(), Origin::Request, &ctx.caller.principal, now)?;
        let sealed = self.seal_key(&key, true)?;
        let (mut tx, head) = self.begin().await?;
        // Locked, then checked again: the form must be as it was read (not changed, signed or being signed).
        let mut current = tx.request_form_for_update(form.id).await?.ok_or_else(|| form_not_found(form.id))?;
        check_not_being_signed(&current, now)?;
        if current != form {
            return Err(changed_meanwhile(form.id));
        }
        let key_id = tx.insert_key(&sealed).await?;
        record.key_id = Some(key_id);
        record.id = tx.insert_certificate(&record).await?;
        if let Some(hash) = &current.key_password_hash {
            tx.set_key_password(key_id, hash).await?;
        }
        current.certificate_uuid = Some(record.uuid);
        current.sign_attempt = None;
        current.sign_claimed_at = None;
        current.signing = Some(signing);
        current.updated_at = now;
        tx.update_request_form(&current, None).await?;
        form = current;
        let draft = EventDraft::success("form.sign", "request_form", form.uuid).with_details(json!({
            "id": form.id, "certificate": record.uuid, "self_signed": true, "serial": record.serial,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: DomainKind, cn: &str, sans: &[&str]) -> RequestForm {
        RequestForm {
            id: 1,
            uuid: Uuid::nil(),
            validation_level: ValidationLevel::Domain,
            domain_kind: kind,
            organization_id: 1,
            common_name: cn.to_owned(),
            sans: sans.iter().map(|s| (*s).to_owned()).collect(),
            key_family: KeyFamily::Rsa,
            key_size: 2048,
            digest: "sha256".to_owned(),
            validity_days: 365,
            key_password_hash: None,
            revocation_password_hash: None,
            project: None,
            external_ip: None,
            hostname: None,
            justification: None,
            responsible_id: None,
            description: None,
            terms: Terms::default(),
            certificate_uuid: None,
            sign_attempt: None,
            sign_claimed_at: None,
            signing: None,
            created_by: "t".to_owned(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn domain_kinds_and_names() {
        assert!(check_form(&form(DomainKind::Single, "a.example", &["a.example"])).is_ok());
        assert!(check_form(&form(DomainKind::Wildcard, "*.example.com", &["*.example.com"])).is_ok());
        let e = check_form(&form(DomainKind::Wildcard, "a.example", &["a.example"])).unwrap_err();
        assert_eq!(e.code(), "form.wildcard_name");
        let e = check_form(&form(DomainKind::Multiple, "a.example", &["a.example"])).unwrap_err();
        assert_eq!(e.code(), "form.domain_kind");
        assert!(check_form(&form(DomainKind::Multiple, "a.example", &["a.example", "10.0.0.1"])).is_ok());
        let e = check_form(&form(DomainKind::Single, "a.example", &["a.example", "b.example"])).unwrap_err();
        assert_eq!(e.code(), "form.domain_kind");
        let e = check_form(&form(DomainKind::Single, "not a name", &["x.example"])).unwrap_err();
        assert_eq!(e.code(), "form.invalid_name");
    }

    #[test]
    fn keys_and_digests() {
        let mut f = form(DomainKind::Single, "a.example", &["a.example"]);
        f.key_family = KeyFamily::Dsa;
        f.digest = "sha384".to_owned();
        assert_eq!(check_form(&f).unwrap_err().code(), "form.digest");
        f.digest = "sha256".to_owned();
        assert!(check_form(&f).is_ok());
        assert_eq!(key_algorithm(&f).unwrap_err().code(), "form.key_not_generated");
        f.key_family = KeyFamily::Rsa;
        f.key_size = 1024;
        assert_eq!(key_algorithm(&f).unwrap_err().code(), "form.key_not_generated");
        f.key_size = 4096;
        assert_eq!(key_algorithm(&f).unwrap(), KeyAlgorithm::Rsa(4096));
        f.key_size = 3000;
        assert_eq!(check_form(&f).unwrap_err().code(), "form.key_size");
    }
}
