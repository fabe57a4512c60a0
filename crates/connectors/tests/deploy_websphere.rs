//! The WebSphere / IBM HTTP Server deployment over the local transport, against a stand-in for GSKit's
//! `gskcapicmd` (`tests/fixtures/gskcapicmd`: IBM's documented syntax over a JSON key database, reading our
//! PKCS#12 with `openssl pkcs12`) and a real TLS server: the "restart" command starts `openssl s_server` with the
//! certificate the key database holds under the label, so the check that the new certificate is served is real.

mod common;

use certwright_connectors::deploy::local::LocalTransport;
use certwright_connectors::deploy::webserver::{DeployError, Deployed, Material, Verify};
use certwright_connectors::deploy::websphere::{install, uninstall, WebSphereTarget};
use common::{free_port, openssl, require, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use zeroize::Zeroizing;

const LABEL: &str = "ihs-server";
const PREVIOUS: &str = "ihs-server.certwright-previous";
const DB_PASSWORD: &str = "Kdb-pw-7f3c1e";

/// The "restart": serves the label's certificate from the JSON key database with `openssl s_server`, stopping
/// the one started before; fails once (and changes nothing) when `fail-next` exists in the state directory.
const RESTART: &str = r#"#!/usr/bin/env python3
import json, os, signal, socket, subprocess, sys, time
db, label, port, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
flag = os.path.join(state, "fail-next")
if os.path.exists(flag):
    os.remove(flag)
    print("restart refused: the server did not come back", file=sys.stderr)
    sys.exit(3)
entry = json.load(open(db))["labels"][label]
for name, text in (("cert.pem", entry["cert"] + "".join(entry["chain"])), ("key.pem", entry["key"])):
    with open(os.path.join(state, name), "w") as f:
        f.write(text)
pidfile = os.path.join(state, "server.pid")
if os.path.exists(pidfile):
    try:
        os.kill(int(open(pidfile).read()), signal.SIGTERM)
    except ProcessLookupError:
        pass
    time.sleep(0.2)
log = open(os.path.join(state, "s_server.log"), "a")
proc = subprocess.Popen(
    ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", os.path.join(state, "cert.pem"),
     "-key", os.path.join(state, "key.pem"), "-www", "-quiet"],
    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
open(pidfile, "w").write(str(proc.pid))
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
print("s_server did not start", file=sys.stderr)
sys.exit(1)
"#;

/// A key database, the stand-in, the restart script and the TLS server it runs; the server is stopped when
/// dropped.
struct Site {
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.state().join("server.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn gskcapicmd() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gskcapicmd").to_str().unwrap().to_owned()
}

impl Site {
    /// An empty CMS key database protected by `DB_PASSWORD`, with a stash file.
    fn new() -> Site {
        require("openssl", "openssl");
        require("python3", "python3");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let site = Site { dir, port: free_port() };
        let script = site.dir.path().join("restart");
        std::fs::write(&script, RESTART).unwrap();
        run(Command::new("chmod").arg("755").arg(&script));
        let db = site.db();
        run(Command::new(gskcapicmd()).args([
            "-keydb",
            "-create",
            "-db",
            &db,
            "-pw",
            DB_PASSWORD,
            "-type",
            "cms",
            "-stash",
        ]));
        site
    }

    fn db(&self) -> String {
        self.dir.path().join("conf/key.kdb").to_str().unwrap().to_owned()
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn target(&self) -> WebSphereTarget {
        let restart = vec![
            self.dir.path().join("restart").to_str().unwrap().to_owned(),
            self.db(),
            LABEL.to_owned(),
            self.port.to_string(),
            self.state().to_str().unwrap().to_owned(),
        ];
        WebSphereTarget {
            gskcapicmd: gskcapicmd(),
            set_default: true,
            restart_command: Some(restart),
            verify: Some(Verify {
                address: ([127, 0, 0, 1], self.port).into(),
                server_name: Some("ihs.test".to_owned()),
                within: Duration::from_secs(10),
            }),
            command_timeout: Duration::from_secs(30),
            ..WebSphereTarget::new(self.db(), Zeroizing::new(DB_PASSWORD.to_owned()), LABEL)
        }
    }

    /// The key database as the stand-in keeps it.
    fn contents(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.db()).unwrap()).unwrap()
    }

    /// The fingerprints by label, and which label is the default.
    fn labels(&self) -> (Vec<(String, String)>, Option<String>) {
        let db = self.contents();
        let mut labels = Vec::new();
        let mut default = None;
        for (label, entry) in db["labels"].as_object().unwrap() {
            labels.push((label.clone(), fingerprint(entry["cert"].as_str().unwrap())));
            if entry["default"] == Value::Bool(true) {
                default = Some(label.clone());
            }
        }
        labels.sort();
        (labels, default)
    }

    /// Files in the key database's directory other than the database and its stash.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("conf"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "key.kdb" && n != "key.sth")
            .collect()
    }

    /// The fingerprint of the certificate the server presents, as `openssl s_client` sees it.
    fn served(&self) -> String {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", self.port), "-servername", "ihs.test"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        fingerprint(&String::from_utf8_lossy(&out.stdout))
    }
}

fn fingerprint(pem: &str) -> String {
    let (_, der) = certwright_pki::pem::decode(pem).unwrap();
    certwright_pki::digest::hex(&certwright_pki::digest::sha256(&der))
}

/// A self-signed certificate for ihs.test with a P-256 key (PKCS#8), as installed material.
fn material(dir: &Path, name: &str) -> Material {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    openssl(
        dir,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            &format!("/CN=ihs.test/O={name}"),
            "-days",
            "30",
            "-addext",
            "subjectAltName=DNS:ihs.test",
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    let certificate_pem = std::fs::read_to_string(&cert).unwrap();
    Material {
        fingerprint: fingerprint(&certificate_pem),
        certificate_pem,
        chain_pem: String::new(),
        key_pem: Some(Zeroizing::new(std::fs::read_to_string(&key).unwrap())),
    }
}

/// Neither the key database password nor anything shaped like the one-time PKCS#12 password (48 hex digits)
/// shows in what an installation reports.
fn assert_no_secrets(text: &str) {
    assert!(!text.contains(DB_PASSWORD), "the key database password shows: {text}");
    let longest_hex = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .filter(|&n| n != 64) // fingerprints
        .max()
        .unwrap_or(0);
    assert!(longest_hex < 48, "something like the PKCS#12 password shows: {text}");
}

fn report(r: &Result<Deployed, DeployError>) -> String {
    match r {
        Ok(d) => d.steps.join("\n"),
        Err(e) => format!("{e} {e:?}"),
    }
}

#[tokio::test]
async fn installs_into_an_empty_key_database_and_the_server_serves_it() {
    let site = Site::new();
    let a = material(site.dir.path(), "a");
    let result = install(&LocalTransport, &site.target(), &a).await;
    assert_no_secrets(&report(&result));
    let done = result.unwrap();
    assert_eq!(done.served.as_deref(), Some(a.fingerprint.as_str()));
    assert_eq!(site.labels(), (vec![(LABEL.to_owned(), a.fingerprint.clone())], Some(LABEL.to_owned())));
    let stored = &site.contents()["labels"][LABEL];
    assert!(stored["key"].as_str().unwrap().contains("PRIVATE KEY"));
    assert!(site.leftovers().is_empty(), "the PKCS#12 was left behind: {:?}", site.leftovers());
    assert_eq!(site.served(), a.fingerprint);
}

#[tokio::test]
async fn a_renewal_keeps_the_previous_certificate_until_the_next_one() {
    let site = Site::new();
    let (a, b, c) = (material(site.dir.path(), "a"), material(site.dir.path(), "b"), material(site.dir.path(), "c"));
    install(&LocalTransport, &site.target(), &a).await.unwrap();

    let done = install(&LocalTransport, &site.target(), &b).await.unwrap();
    assert_no_secrets(&done.steps.join("\n"));
    assert!(done.steps.iter().any(|s| s.contains(&format!("renamed {LABEL} to {PREVIOUS}"))), "{:?}", done.steps);
    let expected = vec![(LABEL.to_owned(), b.fingerprint.clone()), (PREVIOUS.to_owned(), a.fingerprint.clone())];
    assert_eq!(site.labels(), (expected, Some(LABEL.to_owned())));
    assert_eq!(site.served(), b.fingerprint);

    install(&LocalTransport, &site.target(), &c).await.unwrap();
    let expected = vec![(LABEL.to_owned(), c.fingerprint.clone()), (PREVIOUS.to_owned(), b.fingerprint.clone())];
    assert_eq!(site.labels(), (expected, Some(LABEL.to_owned())));
    assert_eq!(site.served(), c.fingerprint);
    assert!(site.leftovers().is_empty(), "{:?}", site.leftovers());

    let gone = uninstall(&LocalTransport, &WebSphereTarget { restart_command: None, ..site.target() }).await.unwrap();
    assert_no_secrets(&gone.steps.join("\n"));
    assert_eq!(site.labels().0, vec![(PREVIOUS.to_owned(), b.fingerprint.clone())]);
}

#[tokio::test]
async fn a_wrong_key_database_password_changes_nothing_and_is_not_retried() {
    let site = Site::new();
    let (a, b) = (material(site.dir.path(), "a"), material(site.dir.path(), "b"));
    install(&LocalTransport, &site.target(), &a).await.unwrap();
    let before = std::fs::read(site.db()).unwrap();

    let wrong = WebSphereTarget { key_db_password: Zeroizing::new("not-the-password".to_owned()), ..site.target() };
    let result = install(&LocalTransport, &wrong, &b).await;
    let text = report(&result);
    assert_no_secrets(&text);
    assert!(!text.contains("not-the-password"), "{text}");
    let err = result.unwrap_err();
    assert_eq!((err.step, err.rolled_back, err.retryable), ("import", false, false), "{err}");
    assert!(err.message.contains("password is not correct"), "{err}");
    assert!(err.message.contains("-target_pw ****"), "{err}");
    assert_eq!(std::fs::read(site.db()).unwrap(), before, "the key database changed");
    assert!(site.leftovers().is_empty(), "{:?}", site.leftovers());
    assert_eq!(site.served(), a.fingerprint);
}

#[tokio::test]
async fn a_failed_restart_puts_the_previous_certificate_back_under_the_label() {
    let site = Site::new();
    let (a, b) = (material(site.dir.path(), "a"), material(site.dir.path(), "b"));
    install(&LocalTransport, &site.target(), &a).await.unwrap();
    std::fs::write(site.state().join("fail-next"), "").unwrap();

    let result = install(&LocalTransport, &site.target(), &b).await;
    assert_no_secrets(&report(&result));
    let err = result.unwrap_err();
    assert_eq!((err.step, err.rolled_back, err.retryable), ("restart", true, false), "{err}");
    assert!(err.message.contains("restart refused"), "{err}");
    assert_eq!(site.labels(), (vec![(LABEL.to_owned(), a.fingerprint.clone())], Some(LABEL.to_owned())));
    assert!(site.leftovers().is_empty(), "{:?}", site.leftovers());
    assert_eq!(site.served(), a.fingerprint);
}

#[tokio::test]
async fn with_no_password_the_stash_file_is_used() {
    let site = Site::new();
    let a = material(site.dir.path(), "a");
    let stashed = WebSphereTarget { key_db_password: Zeroizing::new(String::new()), ..site.target() };
    let done = install(&LocalTransport, &stashed, &a).await.unwrap();
    assert_eq!(done.served.as_deref(), Some(a.fingerprint.as_str()));
    assert_eq!(site.labels().0, vec![(LABEL.to_owned(), a.fingerprint.clone())]);

    std::fs::remove_file(site.dir.path().join("conf/key.sth")).unwrap();
    let err = install(&LocalTransport, &stashed, &material(site.dir.path(), "b")).await.unwrap_err();
    assert_eq!((err.step, err.rolled_back), ("import", false), "{err}");
    assert!(err.message.contains("stash file"), "{err}");
}

#[tokio::test]
async fn a_failed_check_rolls_back_and_restarts_with_the_previous_certificate() {
    let site = Site::new();
    let (a, b) = (material(site.dir.path(), "a"), material(site.dir.path(), "b"));
    install(&LocalTransport, &site.target(), &a).await.unwrap();

    // The check looks where nothing listens.
    let nowhere = Verify { address: ([127, 0, 0, 1], free_port()).into(), server_name: None, within: Duration::ZERO };
    let target = WebSphereTarget { verify: Some(nowhere), ..site.target() };
    let err = install(&LocalTransport, &target, &b).await.unwrap_err();
    assert_no_secrets(&format!("{err} {err:?}"));
    assert_eq!((err.step, err.rolled_back), ("verify", true), "{err}");
    assert_eq!(site.labels(), (vec![(LABEL.to_owned(), a.fingerprint.clone())], Some(LABEL.to_owned())));
    // Restarted again after restoring: the previous certificate is served.
    assert_eq!(site.served(), a.fingerprint);
}
