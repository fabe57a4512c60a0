//! Standard enrolment protocols served next to the APIs: ACME.

pub mod acme;
