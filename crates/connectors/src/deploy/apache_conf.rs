//! Reading an Apache httpd configuration file to find where one site's certificate lives: the `<VirtualHost>`
//! block on a port whose `ServerName` or `ServerAlias` is the site (the first block on the port when no site is
//! named), and the paths its `SSLCertificateFile`, `SSLCertificateKeyFile` and `SSLCertificateChainFile`
//! directives name. Pure: text in, paths out; `Include`d files are not followed.

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// The files of one site, as its virtual host names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFiles {
    /// `SSLCertificateFile`.
    pub certificate: String,
    /// `SSLCertificateKeyFile`.
    pub key: String,
    /// `SSLCertificateChainFile`, when the block has one (without it the chain goes after the certificate).
    pub chain: Option<String>,
    /// The line of the `<VirtualHost>` that matched (1-based), for the steps of a deployment.
    pub line: usize,
}

/// One `<VirtualHost>` block as read.
#[derive(Debug, Default)]
struct VirtualHost {
    line: usize,
    addresses: Vec<String>,
    names: Vec<String>,
    certificate: Vec<String>,
    key: Vec<String>,
    chain: Vec<String>,
    includes: bool,
}

/// Splits a directive line into words; double quotes group words and a backslash escapes the next character
/// inside them.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => {
                        if let Some(n) = chars.next() {
                            word.push(n);
                        }
                    }
                    _ => word.push(c),
                }
            }
            if !closed {
                return Err("a quoted value is not closed".to_owned());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

/// The logical lines of a file: comments dropped, `\` continuations joined, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let (start, mut joined) = match pending.take() {
            Some((start, acc)) => (start, acc),
            None => {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                (i + 1, String::new())
            }
        };
        if let Some(body) = line.strip_suffix('\\') {
            joined.push_str(body);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(line);
        let trimmed = joined.trim();
        if !trimmed.is_empty() {
            out.push((start, trimmed.to_owned()));
        }
    }
    if let Some((start, joined)) = pending {
        let trimmed = joined.trim();
        if !trimmed.is_empty() {
            out.push((start, trimmed.to_owned()));
        }
    }
    out
}

/// The port of a `<VirtualHost>` address (`*:443`, `[::1]:8443`, `_default_:443`); `None` when it names none
/// (then the block answers on every port); 0, which no site uses, when the port is not a number.
fn address_port(address: &str) -> Option<u16> {
    let port = if let Some(rest) = address.strip_prefix('[') {
        rest.split_once("]:").map(|(_, p)| p)?
    } else if address.matches(':').count() == 1 {
        address.split_once(':').map(|(_, p)| p)?
    } else {
        return None;
    };
    if port == "*" {
        return None;
    }
    Some(port.parse().unwrap_or(0))
}

fn on_port(vhost: &VirtualHost, port: u16) -> bool {
    vhost.addresses.iter().any(|a| address_port(a).is_none_or(|p| p == port))
}

/// The host of a `ServerName` (`https://www.example.com:443` → `www.example.com`), lower case.
fn host_of(name: &str) -> String {
    let name = name.split_once("://").map_or(name, |(_, rest)| rest);
    let host = if let Some(rest) = name.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        name.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(name, |(h, _)| h)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` matches a `ServerAlias` pattern with `*` and `?` wildcards.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = ni;
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ni = mark;
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|c| *c == '*')
}

fn serves(vhost: &VirtualHost, site: &str) -> bool {
    let site = host_of(site);
    vhost.names.iter().any(|n| wildcard(&host_of(n), &site))
}

/// Reads every `<VirtualHost>` block of a configuration.
fn virtual_hosts(text: &str) -> Result<Vec<VirtualHost>, String> {
    let mut hosts = Vec::new();
    let mut current: Option<VirtualHost> = None;
    // Sections opened inside the current virtual host (`<IfModule>`, `<Directory>`, …).
    let mut depth = 0usize;
    for (line, text) in logical_lines(text) {
        if let Some(tag) = text.strip_prefix("</") {
            let name = tag.trim_end_matches('>').trim();
            if name.eq_ignore_ascii_case("VirtualHost") {
                let done =
                    current.take().ok_or_else(|| format!("line {line}: </VirtualHost> without <VirtualHost>"))?;
                if depth != 0 {
                    return Err(format!(
                        "line {line}: a section inside the <VirtualHost> of line {} is not closed",
                        done.line
                    ));
                }
                hosts.push(done);
            } else if current.is_some() {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        if let Some(tag) = text.strip_prefix('<') {
            let body =
                tag.strip_suffix('>').ok_or_else(|| format!("line {line}: a section tag does not end with '>'"))?;
            let mut parts = words(body).map_err(|e| format!("line {line}: {e}"))?;
            let name = if parts.is_empty() { String::new() } else { parts.remove(0) };
            if name.eq_ignore_ascii_case("VirtualHost") {
                if current.is_some() {
                    return Err(format!("line {line}: <VirtualHost> inside another <VirtualHost>"));
                }
                if parts.is_empty() {
                    return Err(format!("line {line}: <VirtualHost> names no address"));
                }
                current = Some(VirtualHost { line, addresses: parts, ..VirtualHost::default() });
                depth = 0;
            } else if current.is_some() {
                depth += 1;
            }
            continue;
        }
        let Some(vhost) = current.as_mut() else { continue };
        let mut parts = words(&text).map_err(|e| format!("line {line}: {e}"))?;
        if parts.is_empty() {
            continue;
        }
        let directive = parts.remove(0).to_ascii_lowercase();
        let single = |parts: &[String]| -> Result<String, String> {
            match parts {
                [one] => Ok(one.clone()),
                _ => Err(format!("line {line}: {directive} takes one path")),
            }
        };
        match directive.as_str() {
            "servername" | "serveralias" => vhost.names.extend(parts),
            "sslcertificatefile" => vhost.certificate.push(single(&parts)?),
            "sslcertificatekeyfile" => vhost.key.push(single(&parts)?),
            "sslcertificatechainfile" => vhost.chain.push(single(&parts)?),
            "include" | "includeoptional" | "use" => vhost.includes = true,
            _ => {}
        }
    }
    if let Some(open) = current {
        return Err(format!("the <VirtualHost> of line {} is not closed", open.line));
    }
    Ok(hosts)
}

/// A path a directive names, if certwright may write there: absolute, no `..`, no variables.
fn usable(directive: &str, path: &str, line: usize) -> Result<String, String> {
    if path.contains("${") || path.split('/').any(|s| s == "..") || path.chars().any(char::is_control) {
        return Err(format!(
            "{directive} of the <VirtualHost> of line {line} uses a variable or '..': write the plain absolute path"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "{directive} of the <VirtualHost> of line {line} is a relative path: write it as an absolute path"
        ));
    }
    Ok(path.to_owned())
}

fn only<'a>(values: &'a [String], directive: &str, line: usize) -> Result<Option<&'a String>, String> {
    match values {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(format!(
            "the <VirtualHost> of line {line} has {} {directive} directives: it is not clear which one to replace",
            values.len()
        )),
    }
}

/// The files of the site `site` (any, when empty) served on `port`, from the text of a configuration file.
/// The error says what is missing, never what the file holds beyond names and line numbers.
pub fn site_files(config: &str, site: Option<&str>, port: u16) -> Result<SiteFiles, String> {
    if config.len() > MAX_CONFIG_BYTES {
        return Err(format!("the configuration is larger than {MAX_CONFIG_BYTES} bytes"));
    }
    let site = site.map(str::trim).filter(|s| !s.is_empty());
    let hosts = virtual_hosts(config)?;
    let on_port: Vec<&VirtualHost> = hosts.iter().filter(|v| on_port(v, port)).collect();
    if on_port.is_empty() {
        return Err(format!("no <VirtualHost> on port {port}"));
    }
    let vhost = match site {
        None => on_port[0],
        Some(site) => on_port
            .iter()
            .copied()
            .find(|v| serves(v, site))
            .ok_or_else(|| format!("no <VirtualHost> on port {port} has ServerName or ServerAlias {site:?}"))?,
    };
    let line = vhost.line;
    let hint = if vhost.includes { " (Include directives are not followed)" } else { "" };
    let certificate = only(&vhost.certificate, "SSLCertificateFile", line)?
        .ok_or_else(|| format!("the <VirtualHost> of line {line} has no SSLCertificateFile{hint}"))?;
    let key = only(&vhost.key, "SSLCertificateKeyFile", line)?.ok_or_else(|| {
        format!(
            "the <VirtualHost> of line {line} has no SSLCertificateKeyFile{hint}: the key is not written into the \
             certificate file, add the directive"
        )
    })?;
    let chain = only(&vhost.chain, "SSLCertificateChainFile", line)?;
    let files = SiteFiles {
        certificate: usable("SSLCertificateFile", certificate, line)?,
        key: usable("SSLCertificateKeyFile", key, line)?,
        chain: chain.map(|c| usable("SSLCertificateChainFile", c, line)).transpose()?,
        line,
    };
    if files.certificate == files.key || files.chain.as_ref().is_some_and(|c| *c == files.key) {
        return Err(format!("the <VirtualHost> of line {line} puts the key and a certificate in one file"));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
# The default site.
Listen 443
<VirtualHost *:80>
    ServerName www.example.com
</VirtualHost>
<VirtualHost *:443>
    ServerName default.example.com
    SSLEngine on
    SSLCertificateFile /etc/ssl/default.pem
    SSLCertificateKeyFile /etc/ssl/private/default.key
</VirtualHost>
<virtualhost 10.0.0.1:443 [2001:db8::1]:443>
    servername https://www.example.com:443
    ServerAlias *.shop.example.com \
        legacy.example.com
    <IfModule mod_ssl.c>
        SSLCertificateFile "/etc/ssl/www site.pem"
        SSLCertificateKeyFile /etc/ssl/private/www.key
        SSLCertificateChainFile /etc/ssl/chain.pem
    </IfModule>
    # SSLCertificateFile /etc/ssl/old.pem
</virtualhost>
"#;

    #[test]
    fn finds_the_site_by_name_alias_or_port() {
        let d = site_files(CONF, None, 443).unwrap();
        assert_eq!(
            (d.certificate.as_str(), d.key.as_str(), d.chain),
            ("/etc/ssl/default.pem", "/etc/ssl/private/default.key", None)
        );
        let w = site_files(CONF, Some("WWW.example.com"), 443).unwrap();
        assert_eq!(w.certificate, "/etc/ssl/www site.pem");
        assert_eq!(w.chain.as_deref(), Some("/etc/ssl/chain.pem"));
        assert_eq!(w.line, 13);
        assert_eq!(site_files(CONF, Some("a.shop.example.com"), 443).unwrap(), w);
        assert_eq!(site_files(CONF, Some("legacy.example.com"), 443).unwrap(), w);
        assert!(site_files(CONF, Some("shop.example.com"), 443).unwrap_err().contains("no <VirtualHost>"));
        assert!(site_files(CONF, None, 8443).unwrap_err().contains("port 8443"));
        // The port-80 block has the name but no certificate.
        assert!(site_files(CONF, Some("www.example.com"), 80).unwrap_err().contains("SSLCertificateFile"));
    }

    #[test]
    fn a_missing_key_directive_is_refused() {
        let conf = "<VirtualHost *:443>\nSSLCertificateFile /a/cert.pem\nInclude /etc/more.conf\n</VirtualHost>\n";
        let e = site_files(conf, None, 443).unwrap_err();
        assert!(e.contains("SSLCertificateKeyFile") && e.contains("Include"), "{e}");
    }

    #[test]
    fn hostile_configurations_are_refused_without_panicking() {
        for (conf, want) in [
            ("<VirtualHost *:443>\nSSLCertificateFile /a.pem\n", "not closed"),
            ("</VirtualHost>\n", "without"),
            ("<VirtualHost *:443>\n<VirtualHost *:443>\n</VirtualHost>\n</VirtualHost>\n", "inside another"),
            ("<VirtualHost>\n</VirtualHost>\n", "no address"),
            ("<VirtualHost *:443\n</VirtualHost>\n", "does not end"),
            ("<VirtualHost *:443>\nSSLCertificateFile \"/a.pem\n</VirtualHost>\n", "not closed"),
            ("<VirtualHost *:443>\nSSLCertificateFile a.pem\nSSLCertificateKeyFile /k\n</VirtualHost>\n", "relative"),
            (
                "<VirtualHost *:443>\nSSLCertificateFile /etc/../shadow\nSSLCertificateKeyFile /k\n</VirtualHost>\n",
                "'..'",
            ),
            (
                "<VirtualHost *:443>\nSSLCertificateFile ${X}/a\nSSLCertificateKeyFile /k\n</VirtualHost>\n",
                "variable",
            ),
            ("<VirtualHost *:443>\nSSLCertificateFile /a /b\nSSLCertificateKeyFile /k\n</VirtualHost>\n", "one path"),
            (
                "<VirtualHost *:443>\nSSLCertificateFile /a\nSSLCertificateFile /b\nSSLCertificateKeyFile /k\n</VirtualHost>\n",
                "2 SSLCertificateFile",
            ),
            ("<VirtualHost *:443>\nSSLCertificateFile /a\nSSLCertificateKeyFile /a\n</VirtualHost>\n", "one file"),
            ("<VirtualHost *:443>\n<IfModule x>\n</VirtualHost>\n", "not closed"),
            ("\u{0}\u{1}<<<>>>\\\n\\", "no <VirtualHost>"),
            ("", "no <VirtualHost>"),
        ] {
            let e = site_files(conf, None, 443).unwrap_err();
            assert!(e.contains(want), "{conf:?}: {e}");
        }
        let huge = "#".repeat(MAX_CONFIG_BYTES + 1);
        assert!(site_files(&huge, None, 443).unwrap_err().contains("larger"));
        let deep = format!("<VirtualHost *:443>\n{}</VirtualHost>\n", "<If x>\n".repeat(10_000));
        assert!(site_files(&deep, None, 443).is_err());
        // Errors name lines and directives, never the file's other contents.
        let secret = "<VirtualHost *:443>\nSecretThing hunter2\nSSLCertificateFile /a\n</VirtualHost>\n";
        assert!(!site_files(secret, None, 443).unwrap_err().contains("hunter2"));
    }

    #[test]
    fn addresses_and_wildcards() {
        assert_eq!(address_port("*:443"), Some(443));
        assert_eq!(address_port("[::1]:8443"), Some(8443));
        assert_eq!(address_port("_default_:443"), Some(443));
        assert_eq!(address_port("*"), None);
        assert_eq!(address_port("::1"), None);
        assert_eq!(address_port("*:*"), None);
        assert_eq!(address_port("*:99999"), Some(0));
        assert!(wildcard("*.example.com", "a.b.example.com"));
        assert!(wildcard("w?w.example.com", "www.example.com"));
        assert!(!wildcard("*.example.com", "example.com"));
        assert!(wildcard("**", ""));
        assert_eq!(host_of("https://WWW.Example.com:443"), "www.example.com");
        assert_eq!(host_of("[::1]:443"), "::1");
        let any_port = "<VirtualHost *>\nSSLCertificateFile /c\nSSLCertificateKeyFile /k\n</VirtualHost>\n";
        assert_eq!(site_files(any_port, None, 8443).unwrap().certificate, "/c");
    }
}
