//! `switchboard`: a SIP softswitch for contact centres.

mod agent_page;
mod b2bua;
mod config;
mod days;
mod hooks;
mod http;
mod http_acd;
mod http_api;
mod http_api_body;
mod http_auth;
mod http_recordings;
mod http_tls;
mod http_ws;
mod ivr_cli;
mod ivr_load;
mod plan_cli;
mod recording;
mod report_cli;
mod server;
mod stats;
mod store;
mod switch;
mod wallboard;
mod webrtc;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "A SIP softswitch for contact centres")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the switch. Without --config, runs the embedded demo configuration.
    Serve {
        /// Configuration file (TOML); `switchboard config example` prints one.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// IVR flow tools: check, simulate and graph flow files (no server needed).
    Ivr {
        #[command(subcommand)]
        command: ivr_cli::IvrCommand,
    },
    /// KPIs recomputed from stored call records: a table per queue, or --json.
    Report(report_cli::ReportArgs),
    /// Agents needed for a load and a service-level target (Erlang C, and Erlang A with --patience).
    Plan(plan_cli::PlanArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Prints a complete, commented example configuration.
    Example,
    /// Checks a configuration file and reports the first problem.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::EXAMPLE);
            std::process::ExitCode::SUCCESS
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Serve { config } => serve(config),
        Command::Ivr { command } => ivr_cli::run(command),
        Command::Report(args) => report_cli::run(args),
        Command::Plan(args) => plan_cli::run(args),
    }
}

fn serve(path: Option<PathBuf>) -> std::process::ExitCode {
    let mut config = match &path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        None => Config::demo(),
    };
    init_logging(&config.log.level);
    // Every call holds four sockets (RTP and RTCP per leg): raise the soft
    // limit on open files to the hard one, as servers with many sockets do.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(%e, "cannot raise the open file limit"),
    }
    let generated = config.generate_missing_passwords();
    if path.is_none() {
        println!("Running the embedded demo configuration (`switchboard config example` prints it).");
    }
    if !generated.is_empty() {
        println!("Agent accounts (generated passwords, valid until restart):");
        for (extension, password) in &generated {
            println!("  sip:{extension}@{}  password {password}", config.sip.domain);
        }
    }
    let tokens = config.generate_missing_tokens();
    if !tokens.is_empty() {
        println!("API tokens (generated, valid until restart):");
        for (name, scope, secret) in &tokens {
            println!("  {name} ({scope}): {secret}");
        }
        if let Some((_, _, secret)) = tokens.iter().find(|(_, scope, _)| *scope == http_auth::Scope::Read) {
            println!("Wallboard: http://{}/#token={secret}", config.http.listen);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
