//! Core services: the one place that decides. Faces parse their wire format, call a service with a [`Ctx`], and
//! render the result. Every change runs in one store transaction together with its audit event.

mod access;
pub mod acme;
mod audit;
mod batch;
mod ca;
mod crl;
mod deploy;
mod discovery;
mod end_entity;
mod forms;
mod import;
mod inventory;
mod issuance;
mod jobs;
mod lifecycle;
mod monitor;
mod oauth1;
mod ocsp;
mod publication;
mod revocation;
mod scope;
mod staging;
pub(crate) mod writer;

pub use access::{ClientCertificatePolicy, IssuedOAuthToken, NewOAuthClientRequest, NewTokenRequest, MASTER_KEY_CHECK};
pub use audit::AuditReport;
pub use ca::NewAuthorityRequest;
pub use crl::CrlSettings;
pub use deploy::NewLocation;
pub use discovery::StartDiscovery;
pub use forms::{Download, FormInput, SignInput, SignedForm, Upload};
pub use import::{ChainValidation, ImportRequest, ImportedCertificate};
pub use issuance::{IssueRequest, Issued};
pub use jobs::JobSettings;
pub use lifecycle::{PendingRequest, RekeyRequest, RenewRequest, RevokeOutcome, Submitted};
pub use monitor::{ExpiringReport, NewRuleRequest, Summary};
pub use oauth1::NewOauth1Credential;
pub use ocsp::{OcspAnswer, OcspSettings};
pub use publication::LOCATION_PREFIX;
pub use revocation::{RevokeRequest, RevokedCertificate};
pub use scope::{GenerateRequest, ScopedExport, ScopedImport};
pub use staging::{problem_code, CrlFetcher, KeyRequestSpec, StageRequest};

use crate::audit::{ChainHead, Event, EventDraft};
use crate::auth::Ctx;
use crate::clock::Clock;
use crate::store::{Store, StoreTx};
use crate::vault::KeyVault;
use crate::Result;
use certwright_pki::key::PrivateKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Tunables of the services, from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The audit chain this node appends to.
    pub node_id: String,
    /// Lifetime of OAuth2 access tokens when the client does not set one.
    pub default_oauth_token_ttl: i64,
    /// Base URL of the plain-HTTP listener, written into certificates' caIssuers, OCSP and CRL distribution
    /// point URLs when set.
    pub public_http_url: Option<String>,
    pub crl: CrlSettings,
    pub ocsp: OcspSettings,
    pub jobs: JobSettings,
    /// Delivers notifications; without one, notification jobs fail with a message saying so.
    pub notifier: Option<Arc<dyn crate::notify::Notifier>>,
    /// Reaches upstream (ACME) CAs; without one, their requests fail with a message saying so.
    pub upstream: Option<Arc<dyn crate::upstream::UpstreamCa>>,
    /// Validates the ACME server's challenges; without one, challenges fail with a message saying so.
    pub acme_validator: Option<Arc<dyn crate::acme::ChallengeValidator>>,
    /// How long a challenge response waits for its validation's first attempt, so that it can answer with the
    /// outcome instead of `processing` (clients then need not poll); zero answers at once.
    pub acme_validation_wait: std::time::Duration,
    /// Whether several nodes share the store (PostgreSQL): ACME nonces are then redeemed in the database, so any
    /// node accepts any node's nonce once; a single node (SQLite) keeps them in memory.
    pub shared_store: bool,
    /// Scans TLS endpoints and files for discovery runs; without one, runs fail with a message saying so.
    pub scanner: Option<Arc<dyn crate::discovery::Scanner>>,
    /// DER certificates trusted as roots when judging discovered chains, besides this server's root CAs.
    pub discovery_trust_roots: Vec<Vec<u8>>,
    /// Installs certificates at locations; without one, deployments fail with a message saying so.
    pub deployer: Option<Arc<dyn crate::deploy::Deployer>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_id: "node-1".to_owned(),
            default_oauth_token_ttl: 3600,
            public_http_url: None,
            crl: CrlSettings::default(),
            ocsp: OcspSettings::default(),
            jobs: JobSettings::default(),
            notifier: None,
            upstream: None,
            acme_validator: None,
            acme_validation_wait: std::time::Duration::from_secs(1),
            shared_store: false,
            scanner: None,
            discovery_trust_roots: Vec::new(),
            deployer: None,
        }
    }
}

/// The services over one store.
#[derive(Debug)]
pub struct Services<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    vault: Arc<dyn KeyVault>,
    settings: Settings,
    /// Unsealed CA keys, by authority id.
    signers: RwLock<HashMap<i64, Arc<PrivateKey>>>,
    /// Authorities and RA profiles as last read, with the time they were read.
    pki: RwLock<Option<(crate::clock::EpochSeconds, Arc<ca::PkiSnapshot>)>>,
    /// Group commit of issued certificates.
    certificates: batch::CertificateWriter<S>,
    /// Group commit of small audited changes (the ACME order flow).
    writes: writer::Writer<S>,
    crl_settings: CrlSettings,
    /// Authorities whose CRLs are due after revocations.
    crl_pending: crl::Pending,
    ocsp_settings: OcspSettings,
    ocsp_state: ocsp::OcspState,
    /// Who this process is when it leases jobs: the node id and a per-process suffix.
    job_owner: String,
    /// Wakes the job runner when jobs were queued.
    jobs_wake: tokio::sync::Notify,
    acme: acme::AcmeState,
    /// Tokens that authenticated recently (single node).
    tokens: access::KnownTokens,
}

impl<S: Store> Services<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, vault: Arc<dyn KeyVault>, settings: Settings) -> Self {
        let certificates = batch::CertificateWriter::new(store.clone(), clock.clone(), settings.node_id.clone());
        let writes = writer::Writer::new(store.clone(), clock.clone(), settings.node_id.clone());
        let job_owner = format!("{}/{}", settings.node_id, uuid::Uuid::new_v4().simple());
        Self {
            job_owner,
            jobs_wake: tokio::sync::Notify::new(),
            acme: acme::AcmeState::default(),
            tokens: access::KnownTokens::default(),
            crl_settings: settings.crl,
            ocsp_settings: settings.ocsp,
            store,
            clock,
            vault,
            settings,
            signers: RwLock::default(),
            pki: RwLock::default(),
            certificates,
            writes,
            crl_pending: crl::Pending::default(),
            ocsp_state: ocsp::OcspState::default(),
        }
    }

    /// The store, for read paths owned by other services and for readiness checks.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether the store can serve requests: reachable, with every migration applied.
    pub async fn readiness(&self) -> Result<crate::store::Readiness> {
        self.store.readiness().await
    }

    /// The upstream-CA adapter, for serving its http-01 challenge answers.
    pub fn upstream(&self) -> Option<&Arc<dyn crate::upstream::UpstreamCa>> {
        self.settings.upstream.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Starts a write transaction and locks this node's audit chain. Every change begins here and ends with
    /// [`Services::commit_with_event`], so the change and its event are stored together or not at all.
    async fn begin(&self) -> Result<(S::Tx, ChainHead)> {
        let mut tx = self.store.begin().await?;
        let head = tx.lock_chain(&self.settings.node_id).await?;
        Ok((tx, head))
    }

    /// Appends the events describing the changes made in `tx`, chained in order, then commits them all.
    async fn commit_with_events(
        &self,
        mut tx: S::Tx,
        head: &ChainHead,
        ctx: &Ctx,
        drafts: Vec<EventDraft>,
    ) -> Result<()> {
        let now = self.clock.now();
        let mut head = head.clone();
        let mut events = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let event = Event::chained(&head, ctx, now, draft);
            head = event.as_head();
            events.push(event);
        }
        tx.append_events(&events).await?;
        tx.commit().await?;
        self.announce(&events).await;
        Ok(())
    }

    /// Queues the notifications of committed events that rules subscribe to.
    async fn announce(&self, events: &[Event]) {
        for e in events.iter().filter(|e| crate::notify::EVENTS.contains(&e.action.as_str())) {
            self.notify_event(&e.action, e.object_id.as_deref(), &e.details).await;
        }
    }

    /// Appends the event describing the change made in `tx`, then commits both.
    async fn commit_with_event(&self, mut tx: S::Tx, head: &ChainHead, ctx: &Ctx, draft: EventDraft) -> Result<()> {
        let event = Event::chained(head, ctx, self.clock.now(), draft);
        tx.append_event(&event).await?;
        tx.commit().await?;
        self.announce(std::slice::from_ref(&event)).await;
        Ok(())
    }
}
