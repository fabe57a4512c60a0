//! The OpenAPI document of the native API, generated from the handlers' annotations.

use crate::api::{events, health, oauth, tokens, List};
use crate::problem::Problem;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The native API document, served at `/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "certwright", description = "Certificate lifecycle manager with a built-in private CA: native API."),
    paths(
        health::healthz,
        health::readyz,
        crate::api::authorities::ca_certificate,
        crate::api::revocation::crl_file,
        crate::api::revocation::crl_partition,
        crate::api::revocation::ocsp_post,
        crate::api::revocation::ocsp_get
    ),
    components(schemas(Problem, List<tokens::TokenView>, List<oauth::OAuthClientView>, List<events::EventView>)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "access", description = "API tokens, OAuth2 clients and the client-credentials grant"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "pki", description = "Certificate authorities, RA profiles, issuance and the inventory"),
        (name = "revocation", description = "Revocation, CRLs (full, delta, partitioned) and the OCSP responder"),
        (name = "acme", description = "The ACME server (directories at /acme/{profile}/directory): external account binding keys"),
        (name = "discovery", description = "Discovery runs: TLS endpoint and filesystem scans that bring the certificates they find into the inventory (origin discovery), with the locations where each was seen"),
        (name = "deployment", description = "Locations (nginx, Apache httpd or files, on this host or over SSH) and deployments that install certificates there, verify them and roll back on failure"),
        (name = "lifecycle", description = "Requests, approvals, external authorities (finalize, cancel, confirm-revoke), renew and rekey, jobs, reports and notification rules"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}
