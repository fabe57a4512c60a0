//! The `certwright` binary: runs the server (`serve`, `init`), shows configuration, verifies the audit log,
//! and talks to a running server as a client (`token …`).

mod client;
mod discover;

use certwright_server::bootstrap;
use certwright_server::config::{LogFormat, Overrides, Settings, DEFAULT_DATA_DIR};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "certwright", version, about = "Certificate lifecycle manager with a built-in private CA")]
struct Cli {
    /// Data directory: SQLite database, master key, admin token, configuration file.
    #[arg(long, global = true, env = "CERTWRIGHT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Configuration file (default: <data-dir>/certwright.toml when present).
    #[arg(long, global = true, env = "CERTWRIGHT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server, bootstrapping the data directory on first start.
    Serve(ServerArgs),
    /// Bootstrap the data directory without serving.
    Init(ServerArgs),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// API tokens of a running server.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Certificates of a running server: issue, list, show, renew, rekey, revoke, finalize, cancel.
    #[command(subcommand)]
    Cert(client::CertCommand),
    /// CRLs of a running server's authorities: show, list, generate.
    #[command(subcommand)]
    Crl(client::CrlCommand),
    /// Certificate authorities of a running server: list, create.
    #[command(subcommand)]
    Ca(client::CaCommand),
    /// Approvals of a running server: list, approve, reject.
    #[command(subcommand)]
    Approval(client::ApprovalCommand),
    /// Scan from this machine, without a server: TLS endpoints or directories.
    #[command(subcommand)]
    Discover(discover::DiscoverCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Show(ServerArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Re-compute every audit chain; exits 1 naming each modified or deleted row.
    Verify(ServerArgs),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token; its secret is printed once.
    Create {
        #[command(flatten)]
        client: client::ClientArgs,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Owner of the token (default: the token's name).
        #[arg(long)]
        principal: Option<String>,
        /// Limit the token to an RA profile (repeatable).
        #[arg(long = "ra-profile")]
        ra_profiles: Vec<String>,
        /// Lifetime in seconds (default: no expiry).
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// List API tokens.
    List {
        #[command(flatten)]
        client: client::ClientArgs,
        /// Include revoked and expired tokens.
        #[arg(long)]
        all: bool,
    },
    /// Revoke an API token by id.
    Revoke {
        #[command(flatten)]
        client: client::ClientArgs,
        id: String,
    },
    /// Issue a fresh admin token directly in the database (no server needed), for when every admin token is
    /// lost; writes it to <data-dir>/admin.token.
    Recover(ServerArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Operator,
    Requester,
    Auditor,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

/// Settings that flags (and `CERTWRIGHT_*` variables) override.
#[derive(Debug, Args)]
struct ServerArgs {
    /// HTTPS listener address.
    #[arg(long, env = "CERTWRIGHT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Plain-HTTP listener address.
    #[arg(long, env = "CERTWRIGHT_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Serve every API on the plain-HTTP listener (local use and tests).
    #[arg(long, env = "CERTWRIGHT_INSECURE_HTTP", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    insecure_http: Option<bool>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, env = "CERTWRIGHT_DATABASE_URL")]
    database_url: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "CERTWRIGHT_BODY_LIMIT_BYTES")]
    body_limit_bytes: Option<usize>,
    /// This node's audit chain name (default: host name).
    #[arg(long, env = "CERTWRIGHT_NODE_ID")]
    node_id: Option<String>,
    /// Default lifetime of OAuth2 access tokens in seconds (60 to 86400).
    #[arg(long, env = "CERTWRIGHT_OAUTH_TOKEN_TTL_SECONDS")]
    oauth_token_ttl_seconds: Option<i64>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "CERTWRIGHT_SHUTDOWN_GRACE_SECONDS")]
    shutdown_grace_seconds: Option<u64>,
    /// Key algorithm of the CAs made at first start (ecdsa-p256, ecdsa-p384, rsa-2048, ed25519, ml-dsa-65…).
    #[arg(long, env = "CERTWRIGHT_CA_KEY_ALGORITHM")]
    ca_key_algorithm: Option<String>,
    /// Base URL of the plain-HTTP listener as clients reach it (written into certificates).
    #[arg(long, env = "CERTWRIGHT_PUBLIC_HTTP_URL")]
    public_http_url: Option<String>,
    /// Log filter, e.g. info or certwright_server=debug.
    #[arg(long, env = "CERTWRIGHT_LOG_LEVEL")]
    log_level: Option<String>,
    #[arg(long, env = "CERTWRIGHT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormatArg>,
}

impl ServerArgs {
    /// No overrides: the file and the environment decide.
    fn none() -> Self {
        Self {
            listen: None,
            http_listen: None,
            insecure_http: None,
            database_url: None,
            body_limit_bytes: None,
            node_id: None,
            oauth_token_ttl_seconds: None,
            shutdown_grace_seconds: None,
            ca_key_algorithm: None,
            public_http_url: None,
            log_level: None,
            log_format: None,
        }
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            http_listen: self.http_listen,
            insecure_http: self.insecure_http,
            database_url: self.database_url.clone(),
            body_limit_bytes: self.body_limit_bytes,
            node_id: self.node_id.clone(),
            oauth_token_ttl_seconds: self.oauth_token_ttl_seconds,
            shutdown_grace_seconds: self.shutdown_grace_seconds,
            ca_key_algorithm: self.ca_key_algorithm.clone(),
            public_http_url: self.public_http_url.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.map(|f| match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            }),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for the whole process: aws-lc, as everywhere else.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn load(cli: &Cli, args: &ServerArgs) -> Result<Settings, String> {
    Settings::load(cli.data_dir.clone(), cli.config.clone(), args.overrides()).map_err(|e| e.to_string())
}

/// Where client commands connect by default: the configured HTTPS listener, trusting `<data-dir>/ca.pem`.
fn client_defaults(cli: &Cli) -> client::Defaults {
    let mut args = ServerArgs::none();
    args.listen = std::env::var("CERTWRIGHT_LISTEN").ok().and_then(|v| v.parse().ok());
    let listen = load(cli, &args).map(|s| s.config.listen).unwrap_or(([127, 0, 0, 1], 8443).into());
    client::Defaults { data_dir: cli.data_dir.clone(), listen }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn announce_admin_token(settings: &Settings, token: &str) {
    let path = settings.data_dir.join(bootstrap::ADMIN_TOKEN_FILE);
    println!("certwright: bootstrapped {}", settings.data_dir.display());
    println!("certwright: admin API token (shown once, also saved to {}):", path.display());
    println!("{token}");
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match &cli.command {
        Command::Serve(args) => {
            let settings = load(&cli, args)?;
            init_logging(&settings);
            serve(settings).await
        }
        Command::Init(args) => {
            let settings = load(&cli, args)?;
            init_logging(&settings);
            let opened = bootstrap::open(&settings).await.map_err(|e| e.to_string())?;
            match &opened.new_admin_token {
                Some(token) => announce_admin_token(&settings, token),
                None => println!("certwright: {} is already initialised", settings.data_dir.display()),
            }
            opened.services.store().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Show(args)) => {
            print!("{}", load(&cli, args)?.render_redacted());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify(args)) => {
            let settings = load(&cli, args)?;
            let opened = bootstrap::open_existing(&settings).await.map_err(|e| e.to_string())?;
            let report = opened.services.verify_audit().await.map_err(|e| e.to_string())?;
            opened.services.store().close().await;
            for v in &report.violations {
                println!("TAMPERED: {v}");
            }
            println!(
                "checked {} events in {} chains: {}",
                report.events,
                report.chains,
                if report.is_intact() { "intact" } else { "NOT intact" }
            );
            Ok(if report.is_intact() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Token(TokenCommand::Recover(args)) => {
            let settings = load(&cli, args)?;
            let opened = bootstrap::open_existing(&settings).await.map_err(|e| e.to_string())?;
            let (token, secret) = opened.services.recover_admin_token().await.map_err(|e| e.to_string())?;
            opened.services.store().close().await;
            let path = settings.data_dir.join(bootstrap::ADMIN_TOKEN_FILE);
            bootstrap::write_secret_file(&path, format!("{}\n", secret.danger_expose()).as_bytes())
                .map_err(|e| e.to_string())?;
            println!("certwright: new admin token {} (also saved to {}):", token.uuid, path.display());
            println!("{}", secret.danger_expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => client::token(&client_defaults(&cli), cmd).await,
        Command::Cert(cmd) => client::cert(&client_defaults(&cli), cmd).await,
        Command::Ca(cmd) => client::ca(&client_defaults(&cli), cmd).await,
        Command::Crl(cmd) => client::crl(&client_defaults(&cli), cmd).await,
        Command::Approval(cmd) => client::approval(&client_defaults(&cli), cmd).await,
        Command::Discover(discover::DiscoverCommand::Tls(args)) => {
            let allowed = load(&cli, &ServerArgs::none())
                .map(|s| s.config.discovery_allowed_ranges)
                .unwrap_or_else(|_| certwright_server::config::Config::default().discovery_allowed_ranges);
            discover::tls(allowed, args).await
        }
        Command::Discover(discover::DiscoverCommand::Files(args)) => discover::files(args).await,
    }
}

async fn serve(settings: Settings) -> Result<ExitCode, String> {
    // Registered before anything listens, so SIGTERM is always a graceful stop.
    let signal = certwright_server::app::shutdown_signal().map_err(|e| format!("cannot watch for signals: {e}"))?;
    let opened = bootstrap::open(&settings).await.map_err(|e| e.to_string())?;
    if let Some(token) = &opened.new_admin_token {
        announce_admin_token(&settings, token);
    }
    let services = opened.services.clone();
    let tls = certwright_server::tls::server_config(&settings, &services).await.map_err(|e| e.to_string())?;
    let state = certwright_server::AppState { services: opened.services, keyring: opened.keyring };
    let running = certwright_server::start(state, &settings.config, Some(tls))
        .await
        .map_err(|e| format!("cannot listen on {} / {}: {e}", settings.config.listen, settings.config.http_listen))?;
    let stop = running.shutdown_handle();
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    running.wait().await.map_err(|e| e.to_string())?;
    services.store().close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
