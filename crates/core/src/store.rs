//! The `Store` port: the narrow, async, transaction-capable persistence interface that core services use.
//! Reads that need no transaction go through [`Store`]; every change goes through a [`StoreTx`], which also
//! appends the audit event of that change, so the change and its event commit or vanish together.

use crate::acme::{Account as AcmeAccount, Authorization, EabKey, Identifier, Order as AcmeOrder};
use crate::audit::{ChainHead, Event, EventFilter};
use crate::auth::{ApiToken, NewOAuthClient, NewToken, OAuthClient, Principal};
use crate::ca::{Authority, CertificateFilter, CertificateRecord, NewKey, RaProfile, StoredKey};
use crate::clock::EpochSeconds;
use crate::deploy::{Deployment, Location};
use crate::discovery::{DiscoveryRun, NewSighting, RunResult, Sighting};
use crate::end_entity::EndEntity;
use crate::inventory::{CertificateMetadata, InventoryOrder, InventoryPage};
use crate::jobs::{Job, JobEnd, JobFilter, NewJob};
use crate::keystore::{
    Component, DeployRun, KeyRequest, Scope, ScopeFilter, ScopedCertificate, StageStatus, StagedCertificate, StagedRoot,
};
use crate::lifecycle::{Approval, ApprovalStatus, CertificateLink, RequestRecord, RevocationRequest, State, Vote};
use crate::notify::NotificationRule;
use crate::page::{Listed, Page};
use crate::revocation::{CrlKind, EntrySelection, OcspResponderRecord, Revocation, RevokedEntries, StoredCrl};
use crate::{CoreError, Result};
use std::future::Future;
use uuid::Uuid;

/// Whether the database can serve requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Migrations this build knows.
    pub migrations_expected: i64,
    /// Migrations applied to the database.
    pub migrations_applied: i64,
}

impl Readiness {
    pub fn is_current(&self) -> bool {
        self.migrations_applied == self.migrations_expected
    }
}

/// A token found by its secret's hash, for authentication.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub token: ApiToken,
}

/// An OAuth2 client with the hash of its secret, for the client-credentials grant.
#[derive(Debug, Clone)]
pub struct OAuthClientRecord {
    pub client: OAuthClient,
    pub secret_hash: String,
}

/// Persistence for the domain. Implemented by `certwright-store` for SQLite and PostgreSQL.
pub trait Store: Send + Sync + Clone + 'static {
    type Tx: StoreTx;

    /// Starts a write transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx>> + Send;

    /// Checks the connection and the migration level.
    fn readiness(&self) -> impl Future<Output = Result<Readiness>> + Send;

    /// The token whose secret hashes to `secret_hash`, if any (revoked and expired ones included).
    fn token_by_hash(&self, secret_hash: &str) -> impl Future<Output = Result<Option<ApiToken>>> + Send;

    /// Tokens, newest first. `include_inactive` adds revoked and expired ones.
    fn list_tokens(
        &self,
        page: Page,
        include_inactive: bool,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<Listed<ApiToken>>> + Send;

    /// An OAuth2 client that has not been deleted.
    fn oauth_client(&self, uuid: Uuid) -> impl Future<Output = Result<Option<OAuthClientRecord>>> + Send;

    /// OAuth2 clients that have not been deleted, newest first.
    fn list_oauth_clients(&self, page: Page) -> impl Future<Output = Result<Listed<OAuthClient>>> + Send;

    /// Audit events matching `filter`, newest first.
    fn list_events(&self, filter: &EventFilter, page: Page) -> impl Future<Output = Result<Listed<Event>>> + Send;

    /// A fact about the installation (see [`StoreTx::insert_meta`]).
    fn meta(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Every authority, oldest first.
    fn authorities(&self) -> impl Future<Output = Result<Vec<Authority>>> + Send;

    /// A managed key by database id.
    fn key(&self, id: i64) -> impl Future<Output = Result<Option<StoredKey>>> + Send;

    /// Every RA profile, by name.
    fn ra_profiles(&self) -> impl Future<Output = Result<Vec<RaProfile>>> + Send;

    /// A certificate of the inventory.
    fn certificate(&self, uuid: Uuid) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// The inventory certificate an authority issued with this serial (lower-case hex).
    fn certificate_by_serial(
        &self,
        authority: &Authority,
        serial: &str,
    ) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// The revocation of a serial by an authority, lifted or not.
    fn revocation(&self, authority_id: i64, serial: &str) -> impl Future<Output = Result<Option<Revocation>>> + Send;

    /// The revoked serials a CRL of `authority_id` lists, in no particular order.
    fn revoked_entries(
        &self,
        authority_id: i64,
        selection: EntrySelection,
    ) -> impl Future<Output = Result<RevokedEntries>> + Send;

    /// `(authority id, serial)` of every revocation changed at or after `since` (for caches of OCSP answers).
    fn revocations_changed_since(&self, since: EpochSeconds)
        -> impl Future<Output = Result<Vec<(i64, String)>>> + Send;

    /// The current CRL of a kind.
    fn crl(&self, authority_id: i64, kind: CrlKind) -> impl Future<Output = Result<Option<StoredCrl>>> + Send;

    /// The current CRL of a kind without its bytes (`der` empty): number, dates, entries.
    fn crl_summary(&self, authority_id: i64, kind: CrlKind) -> impl Future<Output = Result<Option<StoredCrl>>> + Send;

    /// An authority's delegated OCSP responder.
    fn ocsp_responder(&self, authority_id: i64) -> impl Future<Output = Result<Option<OcspResponderRecord>>> + Send;

    /// The certificate a caller already obtained with this idempotency key.
    fn certificate_by_idempotency_key(
        &self,
        created_by: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// Certificates matching `filter`, in `order`: after `order.after` when given (keyset pagination, the page's
    /// offset is then ignored), else from the page's offset. `next` is set when more certificates follow.
    fn list_certificates(
        &self,
        filter: &CertificateFilter,
        order: &InventoryOrder,
        page: Page,
    ) -> impl Future<Output = Result<InventoryPage>> + Send;

    /// Every chain head.
    fn chain_heads(&self) -> impl Future<Output = Result<Vec<ChainHead>>> + Send;

    /// Up to `limit` events of `chain` with `seq > after_seq`, in sequence order.
    fn chain_events(&self, chain: &str, after_seq: i64, limit: u32) -> impl Future<Output = Result<Vec<Event>>> + Send;

    /// A certificate of the inventory by database id.
    fn certificate_by_id(&self, id: i64) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// The latest approval of a request or certificate.
    fn approval_of(&self, object_uuid: Uuid) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// A certificate request (any state) by uuid.
    fn request(&self, uuid: Uuid) -> impl Future<Output = Result<Option<RequestRecord>>> + Send;

    /// The request a principal made with an idempotency key.
    fn request_by_idempotency_key(
        &self,
        created_by: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<RequestRecord>>> + Send;

    /// The request a certificate was issued for.
    fn request_of_certificate(&self, certificate_id: i64)
        -> impl Future<Output = Result<Option<RequestRecord>>> + Send;

    /// Requests, newest first, optionally in one state.
    fn list_requests(
        &self,
        state: Option<State>,
        page: Page,
    ) -> impl Future<Output = Result<Listed<RequestRecord>>> + Send;

    /// The renewal links of a certificate, both ways (what it renews and what renews it).
    fn certificate_links(&self, certificate_id: i64) -> impl Future<Output = Result<Vec<CertificateLink>>> + Send;

    /// The pending revocation of a certificate.
    fn revocation_request(&self, certificate_id: i64)
        -> impl Future<Output = Result<Option<RevocationRequest>>> + Send;

    /// An approval with its votes.
    fn approval(&self, uuid: Uuid) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// Approvals (with votes), newest first, optionally of one status.
    fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        page: Page,
    ) -> impl Future<Output = Result<Listed<Approval>>> + Send;

    fn job(&self, uuid: Uuid) -> impl Future<Output = Result<Option<Job>>> + Send;

    /// The job queued with this dedupe key.
    fn job_by_dedupe_key(&self, key: &str) -> impl Future<Output = Result<Option<Job>>> + Send;

    /// Jobs, newest first.
    fn list_jobs(&self, filter: &JobFilter, page: Page) -> impl Future<Output = Result<Listed<Job>>> + Send;

    /// Every notification rule, oldest first.
    fn notification_rules(&self) -> impl Future<Output = Result<Vec<NotificationRule>>> + Send;

    /// Issued certificates whose notAfter lies in `(from, to]`, soonest first, at most `limit`: of one RA
    /// profile when given; with `unrenewed` only those no later certificate renews or rekeys; with
    /// `unmarked = (rule, threshold)` only those that rule has not notified at that threshold.
    fn expiring_certificates(
        &self,
        query: &ExpiringQuery,
    ) -> impl Future<Output = Result<Vec<CertificateRecord>>> + Send;

    /// Counts of the inventory for the summary report.
    fn inventory_summary(
        &self,
        now: EpochSeconds,
        window_days: u32,
    ) -> impl Future<Output = Result<InventorySummary>> + Send;
    /// Every component, by id.
    fn components(&self) -> impl Future<Output = Result<Vec<Component>>> + Send;

    /// Every staged keystore certificate, by id.
    fn staged_certificates(&self) -> impl Future<Output = Result<Vec<StagedCertificate>>> + Send;

    /// One staged keystore certificate.
    fn staged_certificate(&self, id: i64) -> impl Future<Output = Result<Option<StagedCertificate>>> + Send;

    /// Every pending key request, by id.
    fn key_requests(&self) -> impl Future<Output = Result<Vec<KeyRequest>>> + Send;

    /// Every staged trust anchor, by id.
    fn staged_roots(&self) -> impl Future<Output = Result<Vec<StagedRoot>>> + Send;

    /// The most recent deploy run.
    fn latest_deploy_run(&self) -> impl Future<Output = Result<Option<DeployRun>>> + Send;

    /// The inventory certificate with this issuer (RFC 4514 string) and serial (lower-case hex).
    fn certificate_by_issuer_serial(
        &self,
        issuer: &str,
        serial: &str,
    ) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// Scoped certificates matching `filter`, oldest first.
    fn scoped_certificates(
        &self,
        filter: &ScopeFilter,
        page: Page,
    ) -> impl Future<Output = Result<Listed<ScopedCertificate>>> + Send;

    /// The scoped certificate whose inventory certificate has this uuid.
    fn scoped_certificate(&self, uuid: Uuid) -> impl Future<Output = Result<Option<ScopedCertificate>>> + Send;

    /// The certificate called `name` in `scope`.
    fn scoped_certificate_by_name(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = Result<Option<ScopedCertificate>>> + Send;

    // ---- ACME ----------------------------------------------------------------------------------------------------

    /// An ACME account by uuid.
    fn acme_account(&self, uuid: Uuid) -> impl Future<Output = Result<Option<AcmeAccount>>> + Send;

    /// The account of a directory whose key has this RFC 7638 thumbprint.
    fn acme_account_by_key(
        &self,
        ra_profile_id: i64,
        thumbprint: &str,
    ) -> impl Future<Output = Result<Option<AcmeAccount>>> + Send;

    /// An external account binding key by its `kid`.
    fn acme_eab_key(&self, kid: &str) -> impl Future<Output = Result<Option<EabKey>>> + Send;

    /// Every external account binding key, newest first.
    fn acme_eab_keys(&self) -> impl Future<Output = Result<Vec<EabKey>>> + Send;

    /// An order by uuid.
    fn acme_order(&self, uuid: Uuid) -> impl Future<Output = Result<Option<AcmeOrder>>> + Send;

    /// The order a certificate was issued for.
    fn acme_order_of_certificate(&self, certificate_id: i64) -> impl Future<Output = Result<Option<AcmeOrder>>> + Send;

    /// The newest order that names a certificate in `replaces` and has not failed.
    fn acme_order_replacing(&self, certificate_id: i64) -> impl Future<Output = Result<Option<AcmeOrder>>> + Send;

    /// An account's orders, newest first, with ids below `before_id`.
    fn acme_orders_of_account(
        &self,
        account_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AcmeOrder>>> + Send;

    /// An authorization by uuid.
    fn acme_authorization(&self, uuid: Uuid) -> impl Future<Output = Result<Option<Authorization>>> + Send;

    /// Authorizations by uuid, in the order given (missing ones left out).
    fn acme_authorizations(&self, uuids: &[Uuid]) -> impl Future<Output = Result<Vec<Authorization>>> + Send;

    /// A valid, unexpired authorization of the account for this identifier, expiring after `valid_after`.
    fn acme_reusable_authorization(
        &self,
        account_id: i64,
        identifier: &Identifier,
        wildcard: bool,
        valid_after: EpochSeconds,
    ) -> impl Future<Output = Result<Option<Authorization>>> + Send;
    // ---- end entities and managed keys by uuid ----------------------------------------------------------------

    /// The end entities of an RA profile, by username.
    fn end_entities(&self, ra_profile_id: i64) -> impl Future<Output = Result<Vec<EndEntity>>> + Send;

    /// The end entity of an RA profile called `username`.
    fn end_entity(&self, ra_profile_id: i64, username: &str) -> impl Future<Output = Result<Option<EndEntity>>> + Send;

    /// A managed key that has not been destroyed, by uuid.
    fn key_by_uuid(&self, uuid: Uuid) -> impl Future<Output = Result<Option<StoredKey>>> + Send;

    /// The principals who requested certificates (or requests) for a managed key.
    fn key_requesters(&self, key_id: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    // ---- discovery -------------------------------------------------------------------------------------------

    /// A discovery run by uuid.
    fn discovery_run(&self, uuid: Uuid) -> impl Future<Output = Result<Option<DiscoveryRun>>> + Send;

    /// Discovery runs, newest first.
    fn list_discovery_runs(&self, page: Page) -> impl Future<Output = Result<Listed<DiscoveryRun>>> + Send;

    /// What a run saw (and, with `gone`, what it found gone), in the order it saw it.
    fn discovery_results(
        &self,
        run_id: i64,
        gone: bool,
        page: Page,
    ) -> impl Future<Output = Result<Listed<RunResult>>> + Send;

    /// Where a certificate was seen, most recently seen first.
    fn certificate_sightings(&self, certificate_id: i64) -> impl Future<Output = Result<Vec<Sighting>>> + Send;

    /// Sightings not gone, of one kind (`tls`, `file`), after id `after`, by id: the candidates for gone.
    fn active_sightings(
        &self,
        kind: &str,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Sighting>>> + Send;

    // ---- deployment ------------------------------------------------------------------------------------------

    /// A location by uuid or name.
    fn location(&self, key: &str) -> impl Future<Output = Result<Option<Location>>> + Send;

    /// Every location, by name.
    fn locations(&self) -> impl Future<Output = Result<Vec<Location>>> + Send;

    fn deployment(&self, uuid: Uuid) -> impl Future<Output = Result<Option<Deployment>>> + Send;

    /// Deployments, newest first, of one location and/or one certificate.
    fn list_deployments(
        &self,
        location_id: Option<i64>,
        certificate_id: Option<i64>,
        page: Page,
    ) -> impl Future<Output = Result<Listed<Deployment>>> + Send;

    // ---- OAuth 1.0a credentials ------------------------------------------------------------------------------

    /// The credential with this consumer key (revoked ones too).
    fn oauth1_credential(
        &self,
        consumer_key: &str,
    ) -> impl Future<Output = Result<Option<crate::oauth1::Oauth1Credential>>> + Send;

    /// Every credential, oldest first.
    fn oauth1_credentials(&self) -> impl Future<Output = Result<Vec<crate::oauth1::Oauth1Credential>>> + Send;

    // ---- request forms ---------------------------------------------------------------------------------------

    /// Every organization, by name.
    fn organizations(&self) -> impl Future<Output = Result<Vec<crate::forms::Organization>>> + Send;

    fn organization(&self, id: i64) -> impl Future<Output = Result<Option<crate::forms::Organization>>> + Send;

    /// The name of the principal with this id.
    fn principal_name(&self, id: i64) -> impl Future<Output = Result<Option<String>>> + Send;

    /// The id of the principal called `name`.
    fn principal_id(&self, name: &str) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Request forms matching the filter, oldest first, with their status and names.
    fn list_request_forms(
        &self,
        filter: &crate::forms::FormFilter,
        page: Page,
    ) -> impl Future<Output = Result<Listed<crate::forms::FormView>>> + Send;

    /// Certificates of the inventory matching the filter, by id, with the form each came from.
    fn list_form_certificates(
        &self,
        filter: &crate::forms::FormCertificateFilter,
        page: Page,
    ) -> impl Future<Output = Result<Listed<crate::forms::FormCertificate>>> + Send;

    /// The hash of the password a key's export asks for, if one was set.
    fn key_password(&self, key_id: i64) -> impl Future<Output = Result<Option<String>>> + Send;

    // ---- publication -----------------------------------------------------------------------------------------

    /// Every device, by id.
    fn devices(&self) -> impl Future<Output = Result<Vec<crate::publication::Device>>> + Send;

    /// A device by id, host name or address (the first by id when several share it).
    fn device(
        &self,
        key: &crate::publication::DeviceKey,
    ) -> impl Future<Output = Result<Option<crate::publication::Device>>> + Send;

    /// Every credential, by id (secrets sealed).
    fn credentials(&self) -> impl Future<Output = Result<Vec<crate::publication::Credential>>> + Send;

    fn credential(
        &self,
        key: &crate::publication::CredentialKey,
    ) -> impl Future<Output = Result<Option<crate::publication::Credential>>> + Send;

    /// The first active credential with this user name, on one device or on any.
    fn credential_by_username(
        &self,
        username: &str,
        device_id: Option<i64>,
    ) -> impl Future<Output = Result<Option<crate::publication::Credential>>> + Send;

    /// Every publication profile, by id.
    fn publication_profiles(&self) -> impl Future<Output = Result<Vec<crate::publication::PublicationProfile>>> + Send;

    fn publication_profile(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<crate::publication::PublicationProfile>>> + Send;

    /// Publications matching the filter, newest first, with their pushes and the state of each.
    /// Why a location publications deploy to may no longer be deployed to (its latest publication's device or
    /// credential was made inactive); `None` for every other location.
    fn publication_location_refusal(&self, location_id: i64) -> impl Future<Output = Result<Option<String>>> + Send;

    fn list_publications(
        &self,
        filter: &crate::publication::PublicationFilter,
        page: Page,
    ) -> impl Future<Output = Result<Listed<crate::publication::PublicationView>>> + Send;
}

/// Which expiring certificates to find (see [`Store::expiring_certificates`]).
#[derive(Debug, Clone, Default)]
pub struct ExpiringQuery {
    pub from: EpochSeconds,
    pub to: EpochSeconds,
    pub ra_profile_id: Option<i64>,
    pub unrenewed: bool,
    pub unmarked: Option<(i64, u32)>,
    pub limit: u32,
}

/// Counts of the inventory, each as `(key, count)` sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventorySummary {
    pub total: u64,
    pub by_state: Vec<(String, u64)>,
    pub by_validation_status: Vec<(String, u64)>,
    /// By authority id (`None`: no authority of ours).
    pub by_authority: Vec<(Option<i64>, u64)>,
    pub by_key_algorithm: Vec<(String, u64)>,
    /// `expired`, `0-7d`, `8-30d`, `31-90d`, `91-365d`, `>365d` (issued certificates).
    pub by_expiry: Vec<(String, u64)>,
    /// Requests not yet certificates, by state.
    pub requests_by_state: Vec<(String, u64)>,
}

/// One write transaction. Dropping it without [`StoreTx::commit`] rolls everything back.
pub trait StoreTx: Send {
    /// Locks the head of `chain` for the rest of the transaction (creating it when new) and returns it. Called
    /// first in every write transaction, so concurrent writers of one chain queue here instead of forking it.
    fn lock_chain(&mut self, chain: &str) -> impl Future<Output = Result<ChainHead>> + Send;

    /// Appends `event` (already chained onto the locked head) and moves the head to it.
    fn append_event(&mut self, event: &Event) -> impl Future<Output = Result<i64>> + Send;

    /// Appends consecutive `events` (each chained onto the one before, the first onto the locked head) and
    /// moves the head to the last: the group-commit form of [`StoreTx::append_event`].
    fn append_events(&mut self, events: &[Event]) -> impl Future<Output = Result<()>> + Send;

    /// The principal called `name`, created when missing.
    fn ensure_principal(&mut self, name: &str, now: EpochSeconds) -> impl Future<Output = Result<Principal>> + Send;

    fn insert_token(&mut self, token: &NewToken) -> impl Future<Output = Result<ApiToken>> + Send;

    /// Marks a token revoked; `None` when no such token exists, else the token and whether this call revoked
    /// it (`false` when it already was: the first revocation time is kept).
    fn revoke_token(
        &mut self,
        uuid: Uuid,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<Option<(ApiToken, bool)>>> + Send;

    fn insert_oauth_client(&mut self, client: &NewOAuthClient) -> impl Future<Output = Result<OAuthClient>> + Send;

    /// Deletes a client and revokes every token it was issued; `None` when no such live client exists.
    fn delete_oauth_client(
        &mut self,
        uuid: Uuid,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<Option<OAuthClient>>> + Send;

    /// Stores a sealed key; returns its id.
    fn insert_key(&mut self, key: &NewKey) -> impl Future<Output = Result<i64>> + Send;

    /// Stores an authority (its `id` is ignored); returns its id. A name already taken fails with
    /// `authority.name_taken`.
    fn insert_authority(&mut self, authority: &Authority) -> impl Future<Output = Result<i64>> + Send;

    /// Stores an RA profile; returns its id. A name already taken fails with `ra_profile.name_taken`.
    fn insert_ra_profile(&mut self, profile: &RaProfile) -> impl Future<Output = Result<i64>> + Send;

    /// Stores certificates (their `id`s are ignored); returns their ids, in order.
    fn insert_certificates(&mut self, certs: &[&CertificateRecord]) -> impl Future<Output = Result<Vec<i64>>> + Send;

    /// Stores one certificate (its `id` is ignored); returns its id.
    fn insert_certificate(&mut self, cert: &CertificateRecord) -> impl Future<Output = Result<i64>> + Send {
        async move {
            let ids = self.insert_certificates(&[cert]).await?;
            ids.first()
                .copied()
                .ok_or_else(|| CoreError::Storage("the stored certificate's id did not come back".to_owned()))
        }
    }

    /// Records a fact about the installation once; `false` when the key is already set (nothing changes).
    fn insert_meta(&mut self, key: &str, value: &str) -> impl Future<Output = Result<bool>> + Send;

    fn commit(self) -> impl Future<Output = Result<()>> + Send;

    /// Replaces an RA profile's authority, policy, enabled flag and `updated_at` (by id); `false` when it no
    /// longer exists.
    fn update_ra_profile(&mut self, profile: &RaProfile) -> impl Future<Output = Result<bool>> + Send;

    /// How many certificates were issued through an RA profile.
    fn count_ra_profile_certificates(&mut self, id: i64) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes an RA profile; `false` when it no longer exists. One that certificates reference fails with
    /// `ra_profile.in_use`.
    fn delete_ra_profile(&mut self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// A certificate, locked against concurrent changes until the transaction ends.
    fn certificate_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<CertificateRecord>>> + Send;

    /// Records a revocation; a serial already revoked by the authority fails with `certificate.already_revoked`.
    fn insert_revocation(&mut self, revocation: &Revocation) -> impl Future<Output = Result<i64>> + Send;

    /// Replaces a revocation's reason, dates and release (by id).
    fn update_revocation(&mut self, revocation: &Revocation) -> impl Future<Output = Result<()>> + Send;

    /// The revocation of a serial, locked against concurrent changes until the transaction ends.
    fn revocation_for_update(
        &mut self,
        authority_id: i64,
        serial: &str,
    ) -> impl Future<Output = Result<Option<Revocation>>> + Send;

    /// Sets a certificate's state (by id).
    fn set_certificate_state(&mut self, id: i64, state: &str) -> impl Future<Output = Result<()>> + Send;

    /// Destroys a managed key: its sealed bytes are erased and `destroyed_at` set. `false` when already gone.
    fn destroy_key(&mut self, id: i64, at: EpochSeconds) -> impl Future<Output = Result<bool>> + Send;

    /// Takes the authority's next CRL number.
    fn next_crl_number(&mut self, authority_id: i64) -> impl Future<Output = Result<u64>> + Send;

    /// Stores a CRL in place of the previous one of its kind.
    fn put_crl(&mut self, crl: &StoredCrl) -> impl Future<Output = Result<()>> + Send;

    /// Stores an authority's delegated OCSP responder in place of the previous one.
    fn put_ocsp_responder(&mut self, responder: &OcspResponderRecord) -> impl Future<Output = Result<()>> + Send;

    /// Replaces a certificate's owner, labels and custom attributes (by id).
    fn update_certificate_metadata(
        &mut self,
        id: i64,
        metadata: &CertificateMetadata,
    ) -> impl Future<Output = Result<()>> + Send;

    fn insert_request(&mut self, request: &RequestRecord) -> impl Future<Output = Result<i64>> + Send;

    /// A request, locked until the transaction ends.
    fn request_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<RequestRecord>>> + Send;

    /// Replaces a request's state, certificate, external reference, reason and `updated_at` (by id).
    fn update_request(&mut self, request: &RequestRecord) -> impl Future<Output = Result<()>> + Send;

    fn insert_certificate_link(
        &mut self,
        certificate_id: i64,
        previous_id: i64,
        kind: crate::lifecycle::LinkKind,
    ) -> impl Future<Output = Result<()>> + Send;

    fn insert_revocation_request(&mut self, request: &RevocationRequest) -> impl Future<Output = Result<()>> + Send;

    /// Removes and returns a certificate's pending revocation.
    fn take_revocation_request(
        &mut self,
        certificate_id: i64,
    ) -> impl Future<Output = Result<Option<RevocationRequest>>> + Send;

    /// Stores an approval (without votes); returns its id.
    fn insert_approval(&mut self, approval: &Approval) -> impl Future<Output = Result<i64>> + Send;

    /// An approval with its votes, locked until the transaction ends.
    fn approval_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// The pending approval of a request or certificate.
    fn pending_approval_of(&mut self, object_uuid: Uuid) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// Records a vote; one principal voting twice fails with `approval.already_voted`.
    fn insert_vote(&mut self, approval_id: i64, vote: &Vote) -> impl Future<Output = Result<()>> + Send;

    fn set_approval_status(
        &mut self,
        id: i64,
        status: ApprovalStatus,
        decided_at: EpochSeconds,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Pending approvals whose time ran out by `now`, at most `limit`.
    fn stale_approvals(&mut self, now: EpochSeconds, limit: u32) -> impl Future<Output = Result<Vec<Approval>>> + Send;

    /// Queues a job; `None` when a job with the same dedupe key exists (nothing changes).
    fn enqueue_job(&mut self, job: &NewJob, now: EpochSeconds) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Leases up to `limit` due jobs to `owner` until `lease_until`: queued ones whose time has come and running
    /// ones whose lease ran out. Concurrent leasers never get the same job.
    fn lease_jobs(
        &mut self,
        owner: &str,
        now: EpochSeconds,
        lease_until: EpochSeconds,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Holds a running job's lease until `until`; `false` when `owner` no longer holds it.
    fn extend_lease(&mut self, id: i64, owner: &str, until: EpochSeconds) -> impl Future<Output = Result<bool>> + Send;

    /// Whether a later certificate renews or rekeys this one.
    fn is_replaced(&mut self, certificate_id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// Ends a job `owner` holds; `false` (nothing changes) when the lease was lost to another node.
    fn finish_job(
        &mut self,
        id: i64,
        owner: &str,
        end: &JobEnd,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a rule; a name already taken fails with `notification_rule.name_taken`.
    fn insert_notification_rule(&mut self, rule: &NotificationRule) -> impl Future<Output = Result<i64>> + Send;

    /// Deletes a rule and its marks; `false` when none has this uuid.
    fn delete_notification_rule(&mut self, uuid: Uuid) -> impl Future<Output = Result<bool>> + Send;

    /// Marks a certificate notified by a rule at a threshold; `false` when it already was.
    fn mark_notified(
        &mut self,
        rule_id: i64,
        certificate_id: i64,
        threshold: u32,
        at: EpochSeconds,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Stores a component; a name already taken fails with `component.name_taken`.
    fn insert_component(&mut self, name: &str, now: EpochSeconds) -> impl Future<Output = Result<Component>> + Send;

    /// Stores a staged certificate (its `id` is ignored); a name already taken fails with `keystore.name_taken`.
    fn insert_staged_certificate(&mut self, cert: &StagedCertificate) -> impl Future<Output = Result<i64>> + Send;

    /// Replaces a staged certificate (by id); `false` when it no longer exists.
    fn update_staged_certificate(&mut self, cert: &StagedCertificate) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a key request (its `id` is ignored).
    fn insert_key_request(&mut self, request: &KeyRequest) -> impl Future<Output = Result<i64>> + Send;

    /// Deletes a key request; `false` when it no longer exists.
    fn delete_key_request(&mut self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a staged trust anchor; one with the same key id fails with `keystore.root_exists`.
    fn insert_staged_root(&mut self, root: &StagedRoot) -> impl Future<Output = Result<i64>> + Send;

    /// Sets a staged trust anchor's status; `false` when it no longer exists.
    fn set_staged_root_status(&mut self, id: i64, status: StageStatus) -> impl Future<Output = Result<bool>> + Send;

    /// Starts a deploy run; one already running fails with `deploy.running`.
    fn insert_deploy_run(&mut self, run: &DeployRun) -> impl Future<Output = Result<i64>> + Send;

    /// The running deploy run, locked until the transaction ends.
    fn running_deploy_run(&mut self) -> impl Future<Output = Result<Option<DeployRun>>> + Send;

    /// How many staged certificates and trust anchors wait for a deploy.
    fn count_staged_changes(&mut self) -> impl Future<Output = Result<i64>> + Send;

    /// Applies staged changes: pending entries become deployed, deleted ones disappear. Returns how many.
    fn apply_staged_changes(&mut self) -> impl Future<Output = Result<i64>> + Send;

    /// Ends a deploy run with `status` (`complete` or `failed`).
    fn finish_deploy_run(&mut self, run: &DeployRun) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a scoped certificate; a name taken in its scope fails with `scope.name_taken`.
    fn insert_scoped_certificate(&mut self, cert: &ScopedCertificate) -> impl Future<Output = Result<i64>> + Send;

    /// Deletes a scoped certificate; `false` when it no longer exists.
    fn delete_scoped_certificate(&mut self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// How many scoped certificates a scoped certificate signed.
    fn count_scoped_signed_by(&mut self, id: i64) -> impl Future<Output = Result<u64>> + Send;

    // ---- ACME ----------------------------------------------------------------------------------------------------

    fn insert_acme_account(&mut self, account: &AcmeAccount) -> impl Future<Output = Result<i64>> + Send;

    /// Stores the account's key, contact and status.
    fn update_acme_account(&mut self, account: &AcmeAccount) -> impl Future<Output = Result<()>> + Send;

    fn acme_account_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<AcmeAccount>>> + Send;

    fn insert_acme_eab_key(&mut self, key: &EabKey) -> impl Future<Output = Result<i64>> + Send;

    /// Binds an unused key to an account: `false` when it is bound already.
    fn bind_acme_eab_key(&mut self, id: i64, account_id: i64) -> impl Future<Output = Result<bool>> + Send;

    fn delete_acme_eab_key(&mut self, kid: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Orders and authorizations change only inside units of the services' writer whose `after` records the new
    /// version in the single-node cache (`services::acme::Recent`); a change made any other way would leave the
    /// cache behind the database.
    fn insert_acme_order(&mut self, order: &AcmeOrder) -> impl Future<Output = Result<i64>> + Send;

    /// Stores the order's status, certificate, error and replaced certificate.
    fn update_acme_order(&mut self, order: &AcmeOrder) -> impl Future<Output = Result<()>> + Send;

    fn acme_order_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<AcmeOrder>>> + Send;

    fn insert_acme_authorization(&mut self, authorization: &Authorization) -> impl Future<Output = Result<i64>> + Send;

    /// Stores the authorization's status, expiry and challenges.
    fn update_acme_authorization(&mut self, authorization: &Authorization) -> impl Future<Output = Result<()>> + Send;

    fn acme_authorization_for_update(
        &mut self,
        uuid: Uuid,
    ) -> impl Future<Output = Result<Option<Authorization>>> + Send;

    /// Records a nonce as used until it expires: `false` when it was used before.
    fn redeem_acme_nonce(&mut self, nonce: &str, expires: EpochSeconds) -> impl Future<Output = Result<bool>> + Send;

    /// Forgets used nonces that have expired.
    fn purge_acme_nonces(&mut self, now: EpochSeconds) -> impl Future<Output = Result<u64>> + Send;
    // ---- end entities ----------------------------------------------------------------------------------------

    /// Stores an end entity (its `id` is ignored); a username taken in its RA profile fails with
    /// `end_entity.exists`.
    fn insert_end_entity(&mut self, entity: &EndEntity) -> impl Future<Output = Result<i64>> + Send;

    /// The end entity of an RA profile called `username`, locked until the transaction ends.
    fn end_entity_for_update(
        &mut self,
        ra_profile_id: i64,
        username: &str,
    ) -> impl Future<Output = Result<Option<EndEntity>>> + Send;

    /// Replaces an end entity's password hash, names, e-mail, extension data, status and `updated_at` (by id).
    fn update_end_entity(&mut self, entity: &EndEntity) -> impl Future<Output = Result<()>> + Send;

    /// Deletes an end entity and its certificate links; `false` when it no longer exists.
    fn delete_end_entity(&mut self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// Records that a certificate was issued for an end entity.
    fn link_end_entity_certificate(
        &mut self,
        end_entity_id: i64,
        certificate_id: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The uuids of the certificates issued for an end entity, oldest first.
    fn end_entity_certificates(&mut self, end_entity_id: i64) -> impl Future<Output = Result<Vec<Uuid>>> + Send;

    // ---- discovery -------------------------------------------------------------------------------------------

    /// Stores a discovery run (its `id` is ignored).
    fn insert_discovery_run(&mut self, run: &DiscoveryRun) -> impl Future<Output = Result<i64>> + Send;

    /// A discovery run by uuid, locked until the transaction ends.
    fn discovery_run_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<DiscoveryRun>>> + Send;

    /// Replaces a run's state, counts, problems, error, limit flag and start and finish times (by id).
    fn update_discovery_run(&mut self, run: &DiscoveryRun) -> impl Future<Output = Result<()>> + Send;

    /// The id and uuid of the certificate with this SHA-256 fingerprint (hex), if the inventory holds it.
    fn certificate_by_fingerprint(
        &mut self,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<(i64, Uuid)>>> + Send;

    /// Records that run `run_id` saw a certificate at a location at `now`: the sighting of that certificate
    /// there is refreshed (and no longer gone) or created, other certificates still seen at the location are
    /// marked gone (replaced), and the run's result is recorded. Returns how many were replaced.
    fn record_sighting(
        &mut self,
        run_id: i64,
        sighting: &NewSighting,
        new_certificate: bool,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Marks these sightings gone at `now`, found so by run `run_id`, unless a later run has seen them since
    /// (`last_run` greater than this run's id). Returns how many were marked.
    fn mark_sightings_gone(
        &mut self,
        run_id: i64,
        ids: &[i64],
        now: EpochSeconds,
    ) -> impl Future<Output = Result<u64>> + Send;

    // ---- deployment ------------------------------------------------------------------------------------------

    /// Stores a location (its `id` is ignored); a taken name fails with `location.exists`.
    fn insert_location(&mut self, location: &Location) -> impl Future<Output = Result<i64>> + Send;

    fn location_by_id(&mut self, id: i64) -> impl Future<Output = Result<Option<Location>>> + Send;

    /// Deletes a location and its deployment history; `false` when it no longer exists.
    fn delete_location(&mut self, id: i64) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a deployment (its `id` is ignored).
    fn insert_deployment(&mut self, deployment: &Deployment) -> impl Future<Output = Result<i64>> + Send;

    /// A deployment, locked until the transaction ends.
    fn deployment_for_update(&mut self, uuid: Uuid) -> impl Future<Output = Result<Option<Deployment>>> + Send;

    /// Replaces a deployment's state, details, error and finish time (by id).
    fn update_deployment(&mut self, deployment: &Deployment) -> impl Future<Output = Result<()>> + Send;

    /// The locations where a certificate is installed (its latest deployment there installs it, not failed).
    fn deployed_locations(&mut self, certificate_id: i64) -> impl Future<Output = Result<Vec<i64>>> + Send;

    // ---- OAuth 1.0a credentials ------------------------------------------------------------------------------

    /// Stores a credential (its `id` is ignored); its principal must exist.
    fn insert_oauth1_credential(
        &mut self,
        credential: &crate::oauth1::Oauth1Credential,
    ) -> impl Future<Output = Result<i64>> + Send;

    fn oauth1_credential_by_uuid(
        &mut self,
        uuid: Uuid,
    ) -> impl Future<Output = Result<Option<crate::oauth1::Oauth1Credential>>> + Send;

    /// Marks a credential revoked at `now`; `false` when it already was.
    fn revoke_oauth1_credential(&mut self, id: i64, now: EpochSeconds) -> impl Future<Output = Result<bool>> + Send;

    // ---- request forms ---------------------------------------------------------------------------------------

    /// Stores an organization (its `id` is ignored); a taken name fails with `organization.exists`.
    fn insert_organization(
        &mut self,
        organization: &crate::forms::Organization,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// The id of the catalog term `(kind, name)`, created when missing.
    fn ensure_catalog_term(
        &mut self,
        kind: &str,
        name: &str,
        now: EpochSeconds,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Stores a request form (its `id` is ignored) and links its terms.
    fn insert_request_form(
        &mut self,
        form: &crate::forms::RequestForm,
        term_ids: &[i64],
    ) -> impl Future<Output = Result<i64>> + Send;

    /// A request form, locked until the transaction ends.
    fn request_form_for_update(
        &mut self,
        id: i64,
    ) -> impl Future<Output = Result<Option<crate::forms::RequestForm>>> + Send;

    /// Replaces every field of a request form (by id) and, when given, its terms.
    fn update_request_form(
        &mut self,
        form: &crate::forms::RequestForm,
        term_ids: Option<&[i64]>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets the hash of the password a key's export asks for.
    fn set_key_password(&mut self, key_id: i64, hash: &str) -> impl Future<Output = Result<()>> + Send;

    /// Sets the hash of the password a certificate's revocation asks for.
    fn set_revocation_password(&mut self, certificate_id: i64, hash: &str) -> impl Future<Output = Result<()>> + Send;

    // ---- publication -----------------------------------------------------------------------------------------

    /// A device, locked until the transaction ends.
    fn device_for_update(
        &mut self,
        key: &crate::publication::DeviceKey,
    ) -> impl Future<Output = Result<Option<crate::publication::Device>>> + Send;

    /// Stores a device (its `id` is ignored); a taken host name fails with `device.exists`.
    fn insert_device(&mut self, device: &crate::publication::Device) -> impl Future<Output = Result<i64>> + Send;

    /// Replaces every field of a device (by id).
    fn update_device(&mut self, device: &crate::publication::Device) -> impl Future<Output = Result<()>> + Send;

    /// A credential, locked until the transaction ends.
    fn credential_for_update(
        &mut self,
        key: &crate::publication::CredentialKey,
    ) -> impl Future<Output = Result<Option<crate::publication::Credential>>> + Send;

    /// Stores a credential (its `id` is ignored); a taken identifier fails with `credential.exists`.
    fn insert_credential(
        &mut self,
        credential: &crate::publication::Credential,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Replaces every field of a credential (by id).
    fn update_credential(
        &mut self,
        credential: &crate::publication::Credential,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A publication profile, locked until the transaction ends.
    fn publication_profile_for_update(
        &mut self,
        id: i64,
    ) -> impl Future<Output = Result<Option<crate::publication::PublicationProfile>>> + Send;

    /// Stores a publication profile (its `id` is ignored).
    fn insert_publication_profile(
        &mut self,
        profile: &crate::publication::PublicationProfile,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Replaces every field of a publication profile (by id).
    fn update_publication_profile(
        &mut self,
        profile: &crate::publication::PublicationProfile,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A location by name, locked until the transaction ends.
    fn location_for_update(&mut self, name: &str) -> impl Future<Output = Result<Option<Location>>> + Send;

    /// Replaces a location's spec, credentials and update time (by id).
    fn update_location(&mut self, location: &Location) -> impl Future<Output = Result<()>> + Send;

    /// Stores a publication (its `id` is ignored).
    fn insert_publication(
        &mut self,
        publication: &crate::publication::Publication,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Stores one push of a publication (its state is the deployment's).
    fn insert_publication_target(
        &mut self,
        publication_id: i64,
        target: &crate::publication::PublicationTarget,
    ) -> impl Future<Output = Result<()>> + Send;
}
