//! Installing a certificate into an IBM key database (the CMS `.kdb` of WebSphere Application Server's web tier
//! and IBM HTTP Server) with GSKit's `gskcapicmd`, through a transport, and taking it back out. The steps:
//!
//! 1. build a PKCS#12 of the key, the certificate and its chain under a random one-time password, and write it
//!    next to the key database (mode 0600);
//! 2. when the label is taken (`-cert -details` succeeds), rename that certificate to `<label>.certwright-previous`
//!    (`-cert -rename`), deleting an older such label first (`-cert -delete`);
//! 3. import the new one under the label (`-cert -import … -type pkcs12 -target … -target_type cms -new_label`),
//!    and with `set_default` make it the default personal certificate (`-cert -setdefault`);
//! 4. remove the PKCS#12, whatever happened;
//! 5. restart the server (`apachectl -k graceful` for IBM HTTP Server) and check over TLS that it serves the new
//!    certificate.
//!
//! When a step after the rename fails, the new label is deleted, the previous certificate gets its label back
//! (and the default flag, with `set_default`), the server is restarted again when it had been, and the failure says
//! it was rolled back.
//!
//! `gskcapicmd` takes passwords as arguments (`-pw`, `-target_pw`), where other users of the host may see them in
//! the process list while it runs. With a stash file beside the key database (`-keydb -stashpw`), leave
//! `key_db_password` empty: the commands then say `-stashed` / `-target_stashed` and no key database password is
//! passed. The PKCS#12's password is random, used once, and the file is gone when `install` returns. Passwords never
//! appear in a [`DeployError`] or in [`Deployed`] steps: command lines are shown with them masked.
//!
//! The command syntax follows IBM's documentation: "Using the gskcapicmd command" and "Managing keys from the
//! command line" in the IBM HTTP Server documentation
//! (<https://www.ibm.com/support/knowledgecenter/en/SS7JFU_8.5.5/com.ibm.websphere.ihs.doc/ihs/tihs_gsk7cmd.html>,
//! <https://www.ibm.com/support/knowledgecenter/SSEQTJ_9.0.0/com.ibm.websphere.ihs.doc/ihs/cihs_ikeycmdline.html>),
//! the object/action/option table of
//! <https://www.ibm.com/support/knowledgecenter/SSEQTJ_9.0.0/com.ibm.websphere.ihs.doc/ihs/rihs_ikeycmdsyn.html>,
//! and the GSKit 8 GSKCapiCmd Users Guide
//! (<https://www.ibm.com/docs/SSPREK_7.0.0/com.ibm.isam.doc_70/gsk_capicmd_user.pdf>: `-cert -import`, `-details`,
//! `-rename`, `-delete`, `-setdefault`); IBM HTTP Server's PKCS#12 notes on friendly names as labels
//! (<https://publib.boulder.ibm.com/httpserv/ihsdiag/pkcs12.html>).

use super::webserver::{last_lines, served_fingerprint, transient, DeployError, Deployed, Material, Verify};
use super::{CommandOutput, FileSpec, Transport};
use std::time::Duration;
use zeroize::Zeroizing;

/// The suffix of the label the replaced certificate keeps until the next installation.
pub const PREVIOUS_SUFFIX: &str = ".certwright-previous";

/// The friendly name of the certificate inside the one-time PKCS#12 (the `-label` of the import).
const P12_FRIENDLY_NAME: &str = "certwright-import";

/// Shown in place of a password.
const MASK: &str = "****";

/// An IBM key database and how the server that uses it takes a new certificate.
#[derive(Clone)]
pub struct WebSphereTarget {
    /// The CMS key database on the target host, e.g. `/opt/IBM/HTTPServer/conf/key.kdb`.
    pub key_db_path: String,
    /// Its password; empty to use the stash file (`-stashed`).
    pub key_db_password: Zeroizing<String>,
    /// The label the server refers to (IBM HTTP Server's `SSLServerCert`).
    pub label: String,
    /// The `gskcapicmd` program (`gskcapicmd`, `/opt/IBM/HTTPServer/bin/gskcapicmd`, `gsk8capicmd_64`).
    pub gskcapicmd: String,
    /// Make the certificate the database's default personal certificate.
    pub set_default: bool,
    /// How the server picks up the change, e.g. `apachectl -k graceful` for IBM HTTP Server.
    pub restart_command: Option<Vec<String>>,
    pub verify: Option<Verify>,
    pub command_timeout: Duration,
}

impl WebSphereTarget {
    /// A target for `label` in `key_db_path`, with `gskcapicmd` from the `PATH`, no default flag, no restart and
    /// no check, and a two-minute limit per command.
    pub fn new(key_db_path: impl Into<String>, key_db_password: Zeroizing<String>, label: impl Into<String>) -> Self {
        WebSphereTarget {
            key_db_path: key_db_path.into(),
            key_db_password,
            label: label.into(),
            gskcapicmd: "gskcapicmd".to_owned(),
            set_default: false,
            restart_command: None,
            verify: None,
            command_timeout: Duration::from_secs(120),
        }
    }

    /// The label the replaced certificate is kept under.
    pub fn previous_label(&self) -> String {
        format!("{}{PREVIOUS_SUFFIX}", self.label)
    }

    /// `-pw <password>`, or `-stashed` when no password is configured.
    fn db_auth(&self) -> Vec<String> {
        if self.key_db_password.is_empty() {
            vec!["-stashed".to_owned()]
        } else {
            vec!["-pw".to_owned(), self.key_db_password.to_string()]
        }
    }

    /// `gskcapicmd -cert <action> -db <kdb> <auth> <rest…>`.
    fn cert_command(&self, action: &str, rest: &[&str]) -> Zeroizing<Vec<String>> {
        let mut argv = vec![self.gskcapicmd.clone(), "-cert".to_owned(), action.to_owned()];
        argv.extend(["-db".to_owned(), self.key_db_path.clone()]);
        argv.extend(self.db_auth());
        argv.extend(rest.iter().map(|s| (*s).to_owned()));
        Zeroizing::new(argv)
    }
}

impl std::fmt::Debug for WebSphereTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSphereTarget")
            .field("key_db_path", &self.key_db_path)
            .field("key_db_password", &if self.key_db_password.is_empty() { "(stashed)" } else { MASK })
            .field("label", &self.label)
            .field("gskcapicmd", &self.gskcapicmd)
            .field("set_default", &self.set_default)
            .field("restart_command", &self.restart_command)
            .field("verify", &self.verify)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

fn fail(step: &'static str, message: impl Into<String>, retryable: bool) -> DeployError {
    DeployError { step, message: message.into(), rolled_back: false, retryable }
}

/// The command line as it may be shown: the values of password options masked.
fn shown(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    for arg in argv {
        out.push(if mask_next { MASK } else { arg.as_str() });
        mask_next = matches!(arg.as_str(), "-pw" | "-target_pw" | "-new_pw");
    }
    out.join(" ")
}

/// Runs a command; a failure is described with passwords masked, also in what the command printed.
async fn run(
    t: &dyn Transport,
    argv: &[String],
    timeout: Duration,
    secrets: &[&str],
) -> Result<CommandOutput, DeployError> {
    let scrub =
        |text: String| secrets.iter().filter(|s| !s.is_empty()).fold(text, |text, secret| text.replace(secret, MASK));
    match t.run(argv, timeout).await {
        Ok(out) if out.success() => Ok(out),
        Ok(out) => Err(fail("", scrub(format!("{}: {}", shown(argv), last_lines(&out))), false)),
        Err(e) => {
            let retryable = transient(&e);
            Err(fail("", scrub(format!("{}: {e}", shown(argv))), retryable))
        }
    }
}

/// Runs a `gskcapicmd` step, naming the step in the failure.
async fn gsk(
    t: &dyn Transport,
    target: &WebSphereTarget,
    step: &'static str,
    argv: &[String],
    secrets: &[&str],
) -> Result<CommandOutput, DeployError> {
    run(t, argv, target.command_timeout, secrets).await.map_err(|e| DeployError { step, ..e })
}

/// The DER blocks of `label` in PEM `text`.
fn pem_blocks(text: &str, label: &str, what: &str) -> Result<Vec<Vec<u8>>, DeployError> {
    let blocks = certwright_pki::pem::decode_all(text).map_err(|e| fail("prepare", format!("{what}: {e}"), false))?;
    Ok(blocks.into_iter().filter(|(l, _)| l == label).map(|(_, der)| der).collect())
}

/// The PKCS#12 of `m` under `password`.
fn pkcs12(m: &Material, password: &str) -> Result<Zeroizing<Vec<u8>>, DeployError> {
    let key_pem = m.key_pem.as_ref().ok_or_else(|| {
        fail("prepare", "an IBM key database holds the private key with the certificate: the key is missing", false)
    })?;
    let blocks =
        certwright_pki::pem::decode_all(key_pem).map_err(|e| fail("prepare", format!("the key: {e}"), false))?;
    let key =
        blocks.into_iter().find(|(l, _)| l == "PRIVATE KEY").map(|(_, der)| Zeroizing::new(der)).ok_or_else(|| {
            fail("prepare", "the key is not an unencrypted PKCS#8 key (PEM label PRIVATE KEY)", false)
        })?;
    let mut certs = pem_blocks(&m.certificate_pem, "CERTIFICATE", "the certificate")?;
    certs.truncate(1);
    if certs.is_empty() {
        return Err(fail("prepare", "no certificate in the certificate PEM", false));
    }
    certs.extend(pem_blocks(&m.chain_pem, "CERTIFICATE", "the chain")?);
    certwright_pki::pkcs12::export(&key, &certs, password, Some(P12_FRIENDLY_NAME))
        .map(Zeroizing::new)
        .map_err(|e| fail("prepare", format!("building the PKCS#12: {e}"), false))
}

/// Where the one-time PKCS#12 goes: a hidden file beside the key database.
fn temp_path(key_db_path: &str, nonce: &str) -> String {
    let (dir, name) = match key_db_path.rsplit_once('/') {
        Some((dir, name)) => (format!("{dir}/"), name),
        None => (String::new(), key_db_path),
    };
    format!("{dir}.{name}.certwright-{nonce}.p12")
}

/// What was changed so far, to undo.
#[derive(Default)]
struct Progress {
    renamed: bool,
    imported: bool,
    restarted: bool,
}

/// Undoes `done` (see the module documentation); `why` says it was rolled back unless undoing failed too.
async fn roll_back(t: &dyn Transport, target: &WebSphereTarget, done: &Progress, why: DeployError) -> DeployError {
    let secrets = [target.key_db_password.as_str()];
    let previous = target.previous_label();
    let mut problems = Vec::new();
    if done.imported {
        let argv = target.cert_command("-delete", &["-label", &target.label]);
        if let Err(e) = run(t, &argv, target.command_timeout, &secrets).await {
            problems.push(e.message);
        }
    }
    if done.renamed && problems.is_empty() {
        let argv = target.cert_command("-rename", &["-label", &previous, "-new_label", &target.label]);
        if let Err(e) = run(t, &argv, target.command_timeout, &secrets).await {
            problems.push(e.message);
        } else if target.set_default {
            let argv = target.cert_command("-setdefault", &["-label", &target.label]);
            if let Err(e) = run(t, &argv, target.command_timeout, &secrets).await {
                problems.push(e.message);
            }
        }
    }
    // A server that was not restarted never read the new certificate.
    if let Some(restart) = target.restart_command.as_ref().filter(|_| done.restarted) {
        if let Err(e) = run(t, restart, target.command_timeout, &secrets).await {
            problems.push(format!("restart after restoring: {}", e.message));
        }
    }
    if problems.is_empty() {
        DeployError { rolled_back: done.renamed || done.imported, ..why }
    } else {
        DeployError { message: format!("{}; restoring failed: {}", why.message, problems.join("; ")), ..why }
    }
}

/// Installs `m` under the target's label, keeping the certificate it replaces as `<label>.certwright-previous`
/// and rolling back on failure (see the module documentation).
pub async fn install(t: &dyn Transport, target: &WebSphereTarget, m: &Material) -> Result<Deployed, DeployError> {
    let random = certwright_pki::random::bytes::<24>().map_err(|e| fail("prepare", e.to_string(), false))?;
    let p12_password = Zeroizing::new(certwright_pki::digest::hex(&random));
    let p12 = pkcs12(m, &p12_password)?;
    let nonce = certwright_pki::random::bytes::<6>().map_err(|e| fail("prepare", e.to_string(), false))?;
    let p12_path = temp_path(&target.key_db_path, &certwright_pki::digest::hex(&nonce));
    let spec = FileSpec { path: p12_path.clone(), mode: 0o600, owner: None };
    t.write(&spec, &p12).await.map_err(|e| fail("write", format!("{p12_path}: {e}"), transient(&e)))?;

    let mut deployed = Deployed { steps: vec![format!("wrote the PKCS#12 to {p12_path}")], served: None };
    let mut progress = Progress::default();
    let result = change_database(t, target, &p12_path, &p12_password, &mut deployed, &mut progress).await;
    // The file holds the private key: it goes whatever happened.
    match t.remove(&p12_path).await {
        Ok(()) => deployed.steps.push(format!("removed {p12_path}")),
        Err(e) => deployed.steps.push(format!("could not remove {p12_path}: {e}")),
    }
    if let Err(why) = result {
        return Err(roll_back(t, target, &progress, why).await);
    }

    if let Some(restart) = &target.restart_command {
        progress.restarted = true;
        if let Err(e) = run(t, restart, target.command_timeout, &[target.key_db_password.as_str()]).await {
            let why = DeployError { step: "restart", retryable: false, ..e };
            return Err(roll_back(t, target, &progress, why).await);
        }
        deployed.steps.push(format!("restarted: {}", shown(restart)));
    }
    if let Some(verify) = &target.verify {
        match served_fingerprint(verify, &m.fingerprint).await {
            Ok(seen) => {
                deployed.steps.push(format!("{} serves the new certificate", verify.address));
                deployed.served = Some(seen);
            }
            Err(e) => return Err(roll_back(t, target, &progress, fail("verify", e, false)).await),
        }
    }
    Ok(deployed)
}

/// Steps 2 and 3: moves the current certificate aside and imports the new one.
async fn change_database(
    t: &dyn Transport,
    target: &WebSphereTarget,
    p12_path: &str,
    p12_password: &str,
    deployed: &mut Deployed,
    progress: &mut Progress,
) -> Result<(), DeployError> {
    let secrets = [target.key_db_password.as_str(), p12_password];
    let label = target.label.as_str();
    let previous = target.previous_label();
    let timeout = target.command_timeout;

    let exists = |l: &str| {
        let argv = target.cert_command("-details", &["-label", l]);
        async move { t.run(&argv, timeout).await.map(|out| out.success()) }
    };
    let label_taken = exists(label).await.map_err(|e| fail("inspect", format!("{}: {e}", label), transient(&e)))?;
    if label_taken {
        let previous_taken =
            exists(&previous).await.map_err(|e| fail("inspect", format!("{previous}: {e}"), transient(&e)))?;
        if previous_taken {
            gsk(t, target, "rename", &target.cert_command("-delete", &["-label", &previous]), &secrets).await?;
            deployed.steps.push(format!("deleted the older {previous}"));
        }
        gsk(
            t,
            target,
            "rename",
            &target.cert_command("-rename", &["-label", label, "-new_label", &previous]),
            &secrets,
        )
        .await?;
        progress.renamed = true;
        deployed.steps.push(format!("renamed {label} to {previous}"));
    }

    let mut import = Zeroizing::new(vec![target.gskcapicmd.clone()]);
    import.extend(
        ["-cert", "-import", "-db", p12_path, "-pw", p12_password, "-type", "pkcs12", "-target"].map(String::from),
    );
    import.push(target.key_db_path.clone());
    if target.key_db_password.is_empty() {
        import.push("-target_stashed".to_owned());
    } else {
        import.extend(["-target_pw".to_owned(), target.key_db_password.to_string()]);
    }
    import.extend(["-target_type", "cms", "-label", P12_FRIENDLY_NAME, "-new_label", label].map(String::from));
    gsk(t, target, "import", &import, &secrets).await?;
    progress.imported = true;
    deployed.steps.push(format!("imported the certificate into {} as {label}", target.key_db_path));

    if target.set_default {
        gsk(t, target, "setdefault", &target.cert_command("-setdefault", &["-label", label]), &secrets).await?;
        deployed.steps.push(format!("{label} is the default certificate"));
    }
    Ok(())
}

/// Deletes the target's label from the key database and restarts the server. The certificate kept as
/// `<label>.certwright-previous`, if any, stays.
pub async fn uninstall(t: &dyn Transport, target: &WebSphereTarget) -> Result<Deployed, DeployError> {
    let secrets = [target.key_db_password.as_str()];
    gsk(t, target, "delete", &target.cert_command("-delete", &["-label", &target.label]), &secrets).await?;
    let mut deployed =
        Deployed { steps: vec![format!("deleted {} from {}", target.label, target.key_db_path)], served: None };
    if let Some(restart) = &target.restart_command {
        run(t, restart, target.command_timeout, &secrets).await.map_err(|e| DeployError {
            step: "restart",
            message: format!("{} (the label is already deleted)", e.message),
            ..e
        })?;
        deployed.steps.push(format!("restarted: {}", shown(restart)));
    }
    Ok(deployed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_command_lines() {
        let argv: Vec<String> =
            ["gskcapicmd", "-cert", "-import", "-db", "a.p12", "-pw", "s3cret", "-target_pw", "other"]
                .map(String::from)
                .to_vec();
        let text = shown(&argv);
        assert!(!text.contains("s3cret") && !text.contains("other"), "{text}");
        assert_eq!(text, "gskcapicmd -cert -import -db a.p12 -pw **** -target_pw ****");
    }

    #[test]
    fn an_empty_password_means_the_stash_file() {
        let stashed = WebSphereTarget::new("/k/key.kdb", Zeroizing::new(String::new()), "web");
        assert_eq!(stashed.cert_command("-details", &["-label", "web"])[5], "-stashed");
        assert!(!format!("{stashed:?}").contains("****"));
        let with_pw = WebSphereTarget::new("/k/key.kdb", Zeroizing::new("pw1".to_owned()), "web");
        assert!(!format!("{with_pw:?}").contains("pw1"));
    }

    #[test]
    fn the_pkcs12_goes_beside_the_key_database() {
        assert_eq!(
            temp_path("/opt/IBM/HTTPServer/conf/key.kdb", "ab12"),
            "/opt/IBM/HTTPServer/conf/.key.kdb.certwright-ab12.p12"
        );
        assert_eq!(temp_path("key.kdb", "ab12"), ".key.kdb.certwright-ab12.p12");
    }
}
