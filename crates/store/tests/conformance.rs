//! The store conformance suite: every case runs on SQLite, and on PostgreSQL when `CERTWRIGHT_TEST_POSTGRES_URL`
//! is set (a set-but-unreachable URL fails the case). Cases drive the store through the core services and the
//! `Store` port, the same way the server does.

use certwright_core::audit::{EventFilter, EventResult};
use certwright_core::auth::{Ctx, NewToken, Role, Secret, TokenSource};
use certwright_core::clock::ManualClock;
use certwright_core::page::Page;
use certwright_core::services::{NewOAuthClientRequest, NewTokenRequest, Services, Settings};
use certwright_core::store::{Store, StoreTx};
use certwright_pki::envelope::{Keyring, MasterKey};
use certwright_store::{testing, SqlStore};
use std::sync::Arc;

const T0: i64 = 1_800_000_000;

struct Fixture {
    svc: Arc<Services<SqlStore>>,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn services(store: SqlStore, dir: Option<tempfile::TempDir>) -> Fixture {
    let clock = Arc::new(ManualClock::at(T0));
    let vault = Arc::new(Keyring::new(MasterKey::generate().unwrap(), vec![]));
    let svc = Services::new(store, clock.clone(), vault, Settings::default());
    Fixture { svc: Arc::new(svc), clock, _dir: dir }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("certwright.db")).await.unwrap();
    services(store, Some(dir))
}

async fn postgres() -> Option<Fixture> {
    let base = testing::postgres_url()?;
    let url = testing::fresh_postgres_schema(&base).await.unwrap();
    Some(services(SqlStore::connect(&url).await.unwrap(), None))
}

fn token_request(name: &str, role: Role) -> NewTokenRequest {
    NewTokenRequest { name: name.to_owned(), role, principal: None, ra_profiles: vec![], expires_in: None }
}

mod cases {
    use super::*;

    pub async fn migrations_are_current(f: Fixture) {
        let r = f.svc.store().readiness().await.unwrap();
        assert!(r.is_current(), "{r:?}");
        assert_eq!(r.migrations_applied, 17);
    }

    pub async fn token_is_found_by_hash_listed_and_revoked(f: Fixture) {
        let ctx = Ctx::system();
        let (tok, secret) = f
            .svc
            .create_token(
                &ctx,
                NewTokenRequest {
                    ra_profiles: vec!["web".into(), "mail".into()],
                    expires_in: Some(600),
                    ..token_request("ci", Role::Operator)
                },
            )
            .await
            .unwrap();
        let caller = f.svc.authenticate(secret.danger_expose()).await.unwrap();
        assert_eq!(caller.role, Role::Operator);
        assert_eq!(caller.ra_profiles, vec!["web".to_string(), "mail".to_string()]);
        assert_eq!(caller.token, Some(tok.uuid));
        assert!(f.svc.authenticate("cwt_wrong").await.is_err());

        let listed = f.svc.list_tokens(&ctx, Page::default(), false).await.unwrap();
        assert_eq!(listed.total, 1);
        assert_eq!(listed.items[0], tok);

        f.svc.revoke_token(&ctx, tok.uuid).await.unwrap();
        assert!(f.svc.authenticate(secret.danger_expose()).await.is_err());
        assert_eq!(f.svc.list_tokens(&ctx, Page::default(), false).await.unwrap().total, 0);
        let all = f.svc.list_tokens(&ctx, Page::default(), true).await.unwrap();
        assert_eq!(all.total, 1);
        assert_eq!(all.items[0].revoked_at, Some(T0));
        assert!(f.svc.revoke_token(&ctx, uuid::Uuid::new_v4()).await.is_err());
    }

    pub async fn expired_token_stops_authenticating(f: Fixture) {
        let ctx = Ctx::system();
        let (_, secret) = f
            .svc
            .create_token(&ctx, NewTokenRequest { expires_in: Some(60), ..token_request("short", Role::Auditor) })
            .await
            .unwrap();
        assert!(f.svc.authenticate(secret.danger_expose()).await.is_ok());
        f.clock.advance(60);
        let err = f.svc.authenticate(secret.danger_expose()).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(f.svc.list_tokens(&ctx, Page::default(), false).await.unwrap().total, 0);
    }

    pub async fn oauth_client_credentials_issue_expiring_tokens_revoked_with_the_client(f: Fixture) {
        let ctx = Ctx::system();
        let (client, secret) = f
            .svc
            .create_oauth_client(
                &ctx,
                NewOAuthClientRequest {
                    name: "deployer".into(),
                    role: Role::Requester,
                    ra_profiles: vec![],
                    token_ttl_seconds: Some(300),
                },
            )
            .await
            .unwrap();
        let id = client.uuid.to_string();
        assert!(f.svc.oauth_client_credentials(&id, "wrong", None).await.is_err());
        assert!(f.svc.oauth_client_credentials("not-a-uuid", secret.danger_expose(), None).await.is_err());
        let issued = f.svc.oauth_client_credentials(&id, secret.danger_expose(), None).await.unwrap();
        assert_eq!(issued.expires_in, 300);
        assert_eq!(issued.token.source, TokenSource::Oauth);
        let caller = f.svc.authenticate(issued.secret.danger_expose()).await.unwrap();
        assert_eq!((caller.role, caller.principal.as_str()), (Role::Requester, "deployer"));

        assert_eq!(f.svc.list_oauth_clients(&ctx, Page::default()).await.unwrap().items, vec![client.clone()]);
        f.svc.delete_oauth_client(&ctx, client.uuid).await.unwrap();
        assert!(f.svc.authenticate(issued.secret.danger_expose()).await.is_err());
        assert!(f.svc.oauth_client_credentials(&id, secret.danger_expose(), None).await.is_err());
        assert!(f.svc.delete_oauth_client(&ctx, client.uuid).await.is_err());
        assert_eq!(f.svc.list_oauth_clients(&ctx, Page::default()).await.unwrap().total, 0);
    }

    pub async fn every_change_is_chained_filterable_and_paginated(f: Fixture) {
        let ctx = Ctx { request_id: Some("req-1".into()), ..Ctx::system() };
        for i in 0..5 {
            f.svc.create_token(&ctx, token_request(&format!("t{i}"), Role::Auditor)).await.unwrap();
            f.clock.advance(10);
        }
        let (tok, _) = f.svc.create_token(&Ctx::system(), token_request("last", Role::Auditor)).await.unwrap();
        f.svc.revoke_token(&Ctx::system(), tok.uuid).await.unwrap();

        let all = f.svc.list_events(&ctx, &EventFilter::default(), Page::default()).await.unwrap();
        assert_eq!(all.total, 7);
        assert_eq!(all.items[0].action, "token.revoke");
        assert_eq!(all.items[0].seq, 7);
        let page =
            f.svc.list_events(&ctx, &EventFilter::default(), Page::new(Some(2), Some(5)).unwrap()).await.unwrap();
        assert_eq!((page.total, page.items.len()), (7, 2));
        assert_eq!(page.items[1].seq, 1);

        let by_request = EventFilter { request_id: Some("req-1".into()), ..Default::default() };
        assert_eq!(f.svc.list_events(&ctx, &by_request, Page::default()).await.unwrap().total, 5);
        let by_object = EventFilter {
            object_type: Some("token".into()),
            object_id: Some(tok.uuid.to_string()),
            result: Some(EventResult::Success),
            ..Default::default()
        };
        assert_eq!(f.svc.list_events(&ctx, &by_object, Page::default()).await.unwrap().total, 2);
        let window = EventFilter { since: Some(T0 + 10), until: Some(T0 + 30), ..Default::default() };
        assert_eq!(f.svc.list_events(&ctx, &window, Page::default()).await.unwrap().total, 2);

        let report = f.svc.verify_audit().await.unwrap();
        assert!(report.is_intact(), "{:?}", report.violations);
        assert_eq!((report.chains, report.events), (1, 7));
    }

    pub async fn tampered_and_deleted_rows_are_reported(f: Fixture) {
        let ctx = Ctx::system();
        for i in 0..4 {
            f.svc.create_token(&ctx, token_request(&format!("t{i}"), Role::Auditor)).await.unwrap();
        }
        let pool = f.svc.store().danger_pool();
        sqlx::query("UPDATE events SET actor = 'mallory' WHERE seq = 2").execute(pool).await.unwrap();
        let report = f.svc.verify_audit().await.unwrap();
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        assert_eq!(report.violations[0].seq, 2);

        sqlx::query("DELETE FROM events WHERE seq = 4").execute(pool).await.unwrap();
        let report = f.svc.verify_audit().await.unwrap();
        assert_eq!(report.violations.len(), 2, "{:?}", report.violations);
        assert!(report.violations[1].reason.contains("head"), "{}", report.violations[1]);
    }

    pub async fn uncommitted_transaction_leaves_nothing(f: Fixture) {
        let secret = Secret::generate("cwt_").unwrap();
        {
            let mut tx = f.svc.store().begin().await.unwrap();
            tx.lock_chain("node-1").await.unwrap();
            tx.ensure_principal("ghost", T0).await.unwrap();
            tx.insert_token(&NewToken {
                uuid: uuid::Uuid::new_v4(),
                name: "ghost".into(),
                principal: "ghost".into(),
                role: Role::Admin,
                ra_profiles: vec![],
                source: TokenSource::Static,
                secret_hash: secret.hash(),
                created_at: T0,
                expires_at: None,
                oauth_client: None,
            })
            .await
            .unwrap();
        }
        assert!(f.svc.store().token_by_hash(&secret.hash()).await.unwrap().is_none());
        assert!(f.svc.verify_audit().await.unwrap().is_intact());
    }

    pub async fn bootstrap_happens_once_and_a_second_attempt_writes_nothing(f: Fixture) {
        assert_eq!(f.svc.master_key_check().await.unwrap(), None);
        let first = Secret::generate("cwt_").unwrap();
        let token = f.svc.bootstrap_admin(&first, "check-a").await.unwrap();
        assert_eq!((token.principal.as_str(), token.role), ("admin", Role::Admin));
        assert_eq!(f.svc.master_key_check().await.unwrap().as_deref(), Some("check-a"));

        let second = Secret::generate("cwt_").unwrap();
        let err = f.svc.bootstrap_admin(&second, "check-b").await.unwrap_err();
        assert_eq!(err.code(), "bootstrap.already_done");
        assert_eq!(f.svc.master_key_check().await.unwrap().as_deref(), Some("check-a"));
        assert!(f.svc.authenticate(second.danger_expose()).await.is_err(), "the loser's token was rolled back");
        assert!(f.svc.authenticate(first.danger_expose()).await.is_ok());
        let report = f.svc.verify_audit().await.unwrap();
        assert_eq!((report.events, report.is_intact()), (1, true));
    }

    pub async fn metadata_labels_keysets_and_profile_changes_round_trip(f: Fixture) {
        use certwright_core::ca::{CertificateFilter, Policy, RaProfileChange};
        use certwright_core::inventory::{CertificateSort, InventoryOrder, MetadataPatch};
        use certwright_core::services::IssueRequest;
        let ctx = Ctx::system();
        f.svc
            .ensure_default_hierarchy(certwright_pki::alg::KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (i, cn) in ["b.example", "a.example", "c.example"].iter().enumerate() {
            let req = IssueRequest {
                ra_profile: "default".into(),
                common_name: Some((*cn).into()),
                validity_days: Some(30 - i as u32),
                ..Default::default()
            };
            ids.push(f.svc.issue(&ctx, req).await.unwrap().record.uuid);
        }
        let labels = [("env".to_owned(), Some("prod".to_owned()))].into_iter().collect();
        let patch = MetadataPatch { owner: Some(Some("ops".into())), labels: Some(Some(labels)), ..Default::default() };
        let updated = f.svc.update_certificate(&ctx, ids[1], &patch).await.unwrap();
        assert_eq!(f.svc.store().certificate(ids[1]).await.unwrap().unwrap().metadata, updated.metadata);

        let store = f.svc.store();
        let by_label = CertificateFilter { label: Some(("env".into(), "prod".into())), ..Default::default() };
        let found = store.list_certificates(&by_label, &InventoryOrder::default(), Page::default()).await.unwrap();
        assert_eq!((found.total, found.items[0].uuid), (1, ids[1]));
        let by_owner = CertificateFilter { owner: Some("ops".into()), ..Default::default() };
        assert_eq!(
            store.list_certificates(&by_owner, &InventoryOrder::default(), Page::default()).await.unwrap().total,
            1
        );

        // Keyset: by common name, one per page, each page continuing after the last.
        let sort = CertificateSort::parse("common_name").unwrap();
        let mut order = InventoryOrder::new(Some(sort), None).unwrap();
        let mut names = Vec::new();
        loop {
            let page = store
                .list_certificates(&CertificateFilter::default(), &order, Page::new(Some(1), None).unwrap())
                .await
                .unwrap();
            assert_eq!(page.total, 3);
            names.extend(page.items.iter().map(|c| c.common_name.clone().unwrap()));
            match page.next {
                Some(next) => order = InventoryOrder::new(None, Some(next)).unwrap(),
                None => break,
            }
        }
        assert_eq!(names, ["a.example", "b.example", "c.example"]);
        let soonest = InventoryOrder::new(Some(CertificateSort::parse("not_after").unwrap()), None).unwrap();
        let first = store.list_certificates(&CertificateFilter::default(), &soonest, Page::default()).await.unwrap();
        assert_eq!(first.items[0].common_name.as_deref(), Some("c.example"));
        assert!(first.next.is_none());

        // RA profiles: replaced in place, refused deletion while certificates reference them, deleted when free.
        let default = f.svc.find_ra_profile("default").await.unwrap();
        let strict = Policy { max_validity_days: 10, default_validity_days: 5, ..Default::default() };
        let change = RaProfileChange { authority: None, policy: strict.clone(), enabled: Some(false) };
        f.svc.update_ra_profile(&ctx, "default", change).await.unwrap();
        let stored = store.ra_profiles().await.unwrap().into_iter().find(|p| p.id == default.id).unwrap();
        assert_eq!((stored.policy, stored.enabled), (strict, false));
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.count_ra_profile_certificates(default.id).await.unwrap(), 3);
        let err = tx.delete_ra_profile(default.id).await.unwrap_err();
        assert_eq!(err.code(), "ra_profile.in_use", "the database refuses it too");
        drop(tx);
        let authority = f.svc.list_authorities(&ctx).await.unwrap().into_iter().find(|a| a.name == "issuing").unwrap();
        f.svc.create_ra_profile(&ctx, "spare", authority.uuid, Policy::default()).await.unwrap();
        f.svc.delete_ra_profile(&ctx, "spare").await.unwrap();
        assert!(store.ra_profiles().await.unwrap().iter().all(|p| p.name != "spare"));
        assert!(f.svc.verify_audit().await.unwrap().is_intact());
    }

    pub async fn label_filters_agree_whether_the_label_is_rare_or_common(f: Fixture) {
        use certwright_core::ca::{CertificateFilter, CertificateRecord, Origin};
        use certwright_core::inventory::{CertificateMetadata, CertificateSort, InventoryOrder, MetadataPatch};
        // 120 records stored with their labels: `tier` on every other one (common: checked row by row), `rare` on
        // one (looked up first), owners on every third. They are stored in one call, which takes several
        // multi-row statements.
        let mut tx = f.svc.store().begin().await.unwrap();
        tx.lock_chain("test-node").await.unwrap();
        let mut records = Vec::new();
        for i in 0..120i64 {
            let mut labels = std::collections::BTreeMap::new();
            if i % 2 == 0 {
                labels.insert("tier".to_owned(), "web".to_owned());
            }
            if i == 78 {
                labels.insert("rare".to_owned(), "yes".to_owned());
            }
            if i % 60 == 5 {
                labels.insert("few".to_owned(), "yes".to_owned());
            }
            let record = CertificateRecord {
                id: 0,
                uuid: uuid::Uuid::new_v4(),
                serial: format!("{i:x}"),
                issuer: "CN=elsewhere".into(),
                subject: format!("CN=h{i}"),
                common_name: Some(format!("h{i}")),
                sans: vec![],
                not_before: T0,
                not_after: T0 + i,
                key_algorithm: "ecdsa-p256".into(),
                signature_algorithm: "ecdsa-sha256".into(),
                fingerprint: format!("{i:064x}"),
                state: "issued".into(),
                origin: Origin::Import,
                authority_id: None,
                ra_profile_id: None,
                key_id: None,
                der: vec![0x30],
                idempotency_key: None,
                created_by: "test".into(),
                created_at: T0,
                metadata: CertificateMetadata {
                    owner: (i % 3 == 0).then(|| "ops".to_owned()),
                    labels,
                    ..Default::default()
                },
            };
            records.push(record);
        }
        let ids = tx.insert_certificates(&records.iter().collect::<Vec<_>>()).await.unwrap();
        tx.commit().await.unwrap();
        let store = f.svc.store();
        assert_eq!(ids.len(), 120);
        for (record, id) in records.iter().zip(&ids).step_by(17) {
            let stored = store.certificate(record.uuid).await.unwrap().unwrap();
            assert_eq!((stored.id, &stored.serial), (*id, &record.serial), "ids come back in the order given");
        }
        let list = |label: (&str, &str), owner: Option<&str>| {
            let filter = CertificateFilter {
                label: Some((label.0.to_owned(), label.1.to_owned())),
                owner: owner.map(str::to_owned),
                ..Default::default()
            };
            async move {
                let page = Page::new(Some(1000), None).unwrap();
                store.list_certificates(&filter, &InventoryOrder::default(), page).await.unwrap()
            }
        };
        let common = list(("tier", "web"), None).await;
        assert_eq!((common.total, common.items.len()), (60, 60));
        assert!(common.items.iter().all(|c| c.metadata.labels.get("tier").map(String::as_str) == Some("web")));
        assert!(common.items.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        let rare = list(("rare", "yes"), None).await;
        assert_eq!((rare.total, rare.items[0].common_name.as_deref()), (1, Some("h78")));
        let rare_and_owned = list(("rare", "yes"), Some("ops")).await;
        assert_eq!((rare_and_owned.total, rare_and_owned.items.len()), (1, 1));
        let both = list(("tier", "web"), Some("ops")).await;
        assert_eq!((both.total, both.items.len()), (20, 20), "every sixth record");
        assert_eq!(list(("tier", "app"), None).await.total, 0);

        // A rare label (two carriers: looked up first), one per page by cursor, newest first and oldest first: every carrier once, in order.
        let few = CertificateFilter { label: Some(("few".to_owned(), "yes".to_owned())), ..Default::default() };
        for (sort, expected) in [("-created_at", ["h65", "h5"]), ("created_at", ["h5", "h65"])] {
            let mut order = InventoryOrder::new(Some(CertificateSort::parse(sort).unwrap()), None).unwrap();
            let mut names = Vec::new();
            while names.len() <= 3 {
                let page = store.list_certificates(&few, &order, Page::new(Some(1), None).unwrap()).await.unwrap();
                assert_eq!(page.total, 2, "{sort}");
                names.extend(page.items.iter().map(|c| c.common_name.clone().unwrap()));
                match page.next {
                    Some(next) => order = InventoryOrder::new(None, Some(next)).unwrap(),
                    None => break,
                }
            }
            assert_eq!(names, expected, "{sort}");
        }
        let newest_first = InventoryOrder::default();
        let second = store.list_certificates(&few, &newest_first, Page::new(Some(1), Some(1)).unwrap()).await.unwrap();
        assert_eq!(second.items[0].common_name.as_deref(), Some("h5"), "by offset too");

        // Relabelled: the label's total follows (on SQLite it is a count kept by trigger).
        let h65 = records.iter().find(|r| r.common_name.as_deref() == Some("h65")).unwrap().uuid;
        let patch = MetadataPatch { labels: Some(None), ..Default::default() };
        f.svc.update_certificate(&Ctx::system(), h65, &patch).await.unwrap();
        assert_eq!(list(("few", "yes"), None).await.total, 1);
        let labels = [("few".to_owned(), Some("no".to_owned())), ("tier".to_owned(), Some("web".to_owned()))]
            .into_iter()
            .collect();
        let patch = MetadataPatch { labels: Some(Some(labels)), ..Default::default() };
        f.svc.update_certificate(&Ctx::system(), h65, &patch).await.unwrap();
        assert_eq!((list(("few", "yes"), None).await.total, list(("few", "no"), None).await.total), (1, 1));
        assert_eq!(list(("tier", "web"), None).await.total, 61);
        // PostgreSQL folds the changes appended per statement into the settled counts (this call or the store's own
        // background fold); the totals stay the same.
        store.fold_label_counts().await.unwrap();
        assert_eq!((list(("few", "yes"), None).await.total, list(("few", "no"), None).await.total), (1, 1));
        assert_eq!((list(("tier", "web"), None).await.total, list(("rare", "yes"), None).await.total), (61, 1));
    }

    pub async fn ocsp_answers_are_kept_signed_ahead_and_dropped_on_revocation(f: Fixture) {
        use certwright_core::services::{IssueRequest, RevokeRequest};
        use certwright_pki::ocsp::{self, CertId, CertIdHash, CertStatus};
        f.svc.ensure_default_hierarchy(certwright_pki::alg::KeyAlgorithm::parse("ecdsa-p256").unwrap()).await.unwrap();
        let req = IssueRequest {
            ra_profile: "default".to_owned(),
            csr: None,
            common_name: Some("o.example.com".to_owned()),
            sans: vec![],
            key_algorithm: None,
            validity_days: None,
            idempotency_key: None,
            ..Default::default()
        };
        let issued = f.svc.issue(&Ctx::system(), req).await.unwrap();
        let issuer = certwright_pki::cert::Cert::from_der(&issued.chain[0]).unwrap();
        let leaf = certwright_pki::cert::Cert::from_der(&issued.record.der).unwrap();
        let serial = certwright_core::revocation::decode_hex(&leaf.serial_hex()).unwrap();
        // OCSPRequest { tbsRequest { requestList { Request { reqCert } } } }, without a nonce.
        let seq = |content: Vec<u8>| {
            let mut out = vec![0x30];
            match content.len() {
                n if n < 0x80 => out.push(n as u8),
                n => out.extend_from_slice(&[0x81, n as u8]),
            }
            out.extend(content);
            out
        };
        let cert_id = CertId::new(&issuer, CertIdHash::Sha1, &serial).unwrap();
        let request = seq(seq(seq(seq(cert_id.der.clone()))));
        let first = f.svc.ocsp(&request).await;
        let status = |der: &[u8]| ocsp::inspect_response(der).unwrap().responses[0].status;
        assert_eq!(status(&first.der), CertStatus::Good);
        assert_eq!(f.svc.ocsp(&request).await.der, first.der, "a repeated query is served the kept answer");
        // Shortly before the kept answer is too old to serve, the refresher signs a new one.
        assert_eq!(f.svc.refresh_ocsp_answers(100).await, 0, "nothing is due yet");
        f.clock.advance(4 * 3600 / 2 - 120);
        assert_eq!(f.svc.refresh_ocsp_answers(100).await, 1);
        let refreshed = f.svc.ocsp(&request).await;
        assert_ne!(refreshed.der, first.der);
        assert_eq!(refreshed.cache.unwrap().0, T0 + 4 * 3600 / 2 - 120, "signed ahead, served from the cache");
        // A revocation drops the kept answer at once.
        let revoke = RevokeRequest {
            reason: certwright_core::revocation::RevocationReason::KeyCompromise,
            invalidity_date: None,
            destroy_key: false,
        };
        f.svc.revoke_certificate(&Ctx::system(), issued.record.uuid, &revoke).await.unwrap();
        assert!(matches!(status(&f.svc.ocsp(&request).await.der), CertStatus::Revoked { .. }));
    }

    pub async fn end_entities_are_unique_per_profile_and_delete_revokes_their_certificates(f: Fixture) {
        use certwright_core::end_entity::{EndEntityChange, EndEntityStatus, ExtensionData, NewEndEntity};
        f.svc.ensure_default_hierarchy(certwright_pki::alg::KeyAlgorithm::parse("ecdsa-p256").unwrap()).await.unwrap();
        let ctx = Ctx::system();
        let new = |name: &str| NewEndEntity {
            username: name.to_owned(),
            password: "s3cret".to_owned().into(),
            subject_dn: format!("CN={name}.example.com,O=Example"),
            subject_alt_name: Some(format!("dNSName={name}.example.com")),
            email: Some(format!("{name}@example.com")),
            extension_data: vec![ExtensionData { name: "team".into(), value: "pki".into() }],
        };
        let alice = f.svc.create_end_entity(&ctx, "default", new("alice")).await.unwrap();
        f.svc.create_end_entity(&ctx, "default", new("bob")).await.unwrap();
        let again = f.svc.create_end_entity(&ctx, "default", new("alice")).await.unwrap_err();
        assert_eq!(again.code(), "end_entity.exists");
        let listed = f.svc.end_entities(&ctx, "default").await.unwrap();
        assert_eq!(listed.iter().map(|e| e.username.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(listed[0], alice);
        assert_eq!(listed[0].extension_data[0].value, "pki");

        // Enrol with the password: the certificate carries the entity's names; the password is then spent.
        let key =
            certwright_pki::key::PrivateKey::generate(certwright_pki::alg::KeyAlgorithm::parse("ecdsa-p256").unwrap())
                .unwrap();
        let csr =
            certwright_pki::details::build_csr(&key, &certwright_pki::names::common_name("ignored").unwrap(), &[])
                .unwrap();
        let wrong = f.svc.enrol_end_entity(&ctx, "default", "alice", "nope", &csr).await.unwrap_err();
        assert_eq!(wrong.code(), "end_entity.wrong_password");
        let issued = f.svc.enrol_end_entity(&ctx, "default", "alice", "s3cret", &csr).await.unwrap();
        assert_eq!(issued.record.common_name.as_deref(), Some("alice.example.com"));
        assert_eq!(issued.record.sans, ["dns:alice.example.com"]);
        let spent = f.svc.enrol_end_entity(&ctx, "default", "alice", "s3cret", &csr).await.unwrap_err();
        assert_eq!(spent.code(), "end_entity.not_enrollable");
        assert_eq!(f.svc.end_entity(&ctx, "default", "alice").await.unwrap().status, EndEntityStatus::Generated);
        f.svc.reset_end_entity_password(&ctx, "default", "alice").await.unwrap();
        let change = EndEntityChange { password: Some("n3w".to_owned().into()), ..Default::default() };
        f.svc.update_end_entity(&ctx, "default", "alice", change).await.unwrap();
        let second = f.svc.enrol_end_entity(&ctx, "default", "alice", "n3w", &csr).await.unwrap();

        // Deleting revokes both certificates in the same transaction.
        let revoked = f.svc.delete_end_entity(&ctx, "default", "alice").await.unwrap();
        assert_eq!(revoked, vec![issued.record.uuid, second.record.uuid]);
        for uuid in revoked {
            assert_eq!(f.svc.store().certificate(uuid).await.unwrap().unwrap().state, "revoked");
        }
        assert_eq!(f.svc.end_entity(&ctx, "default", "alice").await.unwrap_err().code(), "end_entity.not_found");
        assert_eq!(f.svc.end_entities(&ctx, "default").await.unwrap().len(), 1);

        // Managed keys are found by uuid until destroyed.
        assert!(f.svc.store().key_by_uuid(uuid::Uuid::new_v4()).await.unwrap().is_none());
    }

    pub async fn request_forms_terms_passwords_and_oauth1_credentials_round_trip(f: Fixture) {
        use certwright_core::forms::{DomainKind, FormCertificateFilter, FormFilter, FormStatus, KeyFamily};
        use certwright_core::services::{FormInput, SignInput};
        f.svc.ensure_default_hierarchy(certwright_pki::alg::KeyAlgorithm::parse("ecdsa-p256").unwrap()).await.unwrap();
        let ctx = Ctx::system();
        let org = f.svc.create_organization(&ctx, "Example Ltd").await.unwrap();
        assert_eq!(f.svc.create_organization(&ctx, "Example Ltd").await.unwrap_err().code(), "organization.exists");
        let input = |cn: &str, tags: &[&str]| FormInput {
            validation_level: Some(2),
            domain_kind: Some(DomainKind::Single),
            organization_id: Some(org.id),
            common_name: Some(cn.to_owned()),
            tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
            key_family: Some(KeyFamily::Rsa),
            key_size: Some(2048),
            digest: Some("sha256".to_owned()),
            validity_days: Some(90),
            key_password: Some("k".to_owned().into()),
            ..Default::default()
        };
        let a = f.svc.save_request_form(&ctx, None, input("a.example", &["web", "pay"])).await.unwrap();
        f.svc.save_request_form(&ctx, None, input("b.example", &["web"])).await.unwrap();
        assert_eq!((a.status, a.organization.as_str()), (FormStatus::Created, "Example Ltd"));
        assert_eq!(a.form.terms.tags, ["web", "pay"]);
        let by_tag = |tag: &str| FormFilter { terms: vec![("tag", tag.to_owned())], ..Default::default() };
        let page = Page::default();
        assert_eq!(f.svc.list_request_forms(&ctx, &by_tag("web"), page).await.unwrap().total, 2);
        assert_eq!(f.svc.list_request_forms(&ctx, &by_tag("pay"), page).await.unwrap().total, 1);
        // A change replaces the terms; the catalog keeps one row per term.
        let change = FormInput { tags: Some(vec!["pay".into()]), ..Default::default() };
        f.svc.save_request_form(&ctx, Some(a.form.id), change).await.unwrap();
        assert_eq!(f.svc.list_request_forms(&ctx, &by_tag("web"), page).await.unwrap().total, 1);
        // Signed by the CA: the status follows the certificate, and the key carries the form's password.
        let ca = f.svc.store().authorities().await.unwrap().into_iter().find(|a| a.parent_id.is_some()).unwrap();
        let sign = SignInput { authority_id: Some(ca.id), reason: 1, ..Default::default() };
        let signed = f.svc.sign_request_form(&ctx, a.form.id, sign).await.unwrap();
        assert_eq!(signed.form.status, FormStatus::Signed);
        let cert = signed.certificate.unwrap();
        assert!(f.svc.store().key_password(cert.key_id.unwrap()).await.unwrap().is_some());
        let listed = f
            .svc
            .list_form_certificates(&ctx, FormCertificateFilter { id: Some(cert.id), ..Default::default() }, page)
            .await
            .unwrap();
        assert_eq!(listed.items[0].form.as_ref().map(|v| v.form.id), Some(a.form.id));
        assert!(listed.items[0].passwords.key_password_hash.is_some());

        // OAuth 1.0a credentials: listed without secrets, found by consumer key, revoked once.
        let created = f.svc.create_oauth1_credential(&ctx, "itsm", Role::Operator, vec![]).await.unwrap();
        let found = f.svc.store().oauth1_credential(&created.credential.consumer_key).await.unwrap().unwrap();
        assert_eq!(found, created.credential);
        assert_eq!(f.svc.oauth1_credentials(&ctx).await.unwrap().len(), 1);
        f.svc.revoke_oauth1_credential(&ctx, found.uuid).await.unwrap();
        let again = f.svc.revoke_oauth1_credential(&ctx, found.uuid).await.unwrap_err();
        assert_eq!(again.code(), "oauth1_credential.revoked");
    }

    pub async fn concurrent_writers_keep_one_linear_chain(f: Fixture) {
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let svc = f.svc.clone();
                tokio::spawn(async move {
                    svc.create_token(&Ctx::system(), token_request(&format!("c{i}"), Role::Auditor)).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let report = f.svc.verify_audit().await.unwrap();
        assert!(report.is_intact(), "{:?}", report.violations);
        assert_eq!(report.events, 24);
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    match super::postgres().await {
                        Some(f) => super::cases::$case(f).await,
                        None => eprintln!("{} is not set: PostgreSQL case not run", certwright_store::testing::POSTGRES_ENV),
                    }
                }
            )*
        }
    };
}

conformance!(
    migrations_are_current,
    request_forms_terms_passwords_and_oauth1_credentials_round_trip,
    token_is_found_by_hash_listed_and_revoked,
    expired_token_stops_authenticating,
    oauth_client_credentials_issue_expiring_tokens_revoked_with_the_client,
    every_change_is_chained_filterable_and_paginated,
    tampered_and_deleted_rows_are_reported,
    uncommitted_transaction_leaves_nothing,
    concurrent_writers_keep_one_linear_chain,
    ocsp_answers_are_kept_signed_ahead_and_dropped_on_revocation,
    metadata_labels_keysets_and_profile_changes_round_trip,
    label_filters_agree_whether_the_label_is_rare_or_common,
    bootstrap_happens_once_and_a_second_attempt_writes_nothing,
    end_entities_are_unique_per_profile_and_delete_revokes_their_certificates,
);
