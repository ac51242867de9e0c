//! `switchboard ivr ...`: check, simulate and graph IVR flow files without a server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};

use ivr::{CheckOptions, GraphFormat, PromptCatalog, SimScript};

/// The `ivr` subcommands.
#[derive(Subcommand)]
pub(crate) enum IvrCommand {
    /// Checks flow files: prints every problem as file:line:column; exits 1 on errors.
    Check {
        /// Flow files (YAML).
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        /// Prompts root (prompts/<language>/<name>.wav); checks that every prompt exists.
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// Known queue names, comma-separated; checks every enqueue against them.
        #[arg(long, value_delimiter = ',')]
        queues: Option<Vec<String>>,
    },
    /// Runs a scripted call through a flow in virtual time and prints what it did.
    Simulate {
        /// Flow file.
        flow: PathBuf,
        /// Keys for each wait for input, comma-separated (`1,2`, `1234#`); an empty
        /// entry or the end of the list times out.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        digits: Vec<String>,
        /// Caller's language at the start.
        #[arg(long)]
        lang: Option<String>,
        /// Start time: local to the flow's `timezone` (2026-12-24T20:00), or with an
        /// offset or Z. Default: 2026-01-05T10:00 (a Monday morning).
        #[arg(long)]
        at: Option<String>,
        /// Caller number.
        #[arg(long, default_value = "+10000000000")]
        caller: String,
        /// Called number.
        #[arg(long, default_value = "100")]
        called: String,
        /// Answers to HTTP requests in order, each JSON or `error`; may repeat.
        #[arg(long)]
        http: Vec<String>,
        /// Prompts root, to show which language's file each prompt falls back to.
        #[arg(long)]
        prompts: Option<PathBuf>,
    },
    /// Prints a flow as a graph.
    Graph {
        /// Flow file.
        flow: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "dot")]
        format: Format,
    },
    /// Prints the JSON Schema of the flow format.
    Schema,
}

/// Graph output formats.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Runs an `ivr` subcommand.
pub(crate) fn run(command: IvrCommand) -> ExitCode {
    match command {
        IvrCommand::Check { flows, prompts, queues } => check(&flows, prompts.as_deref(), queues.as_deref()),
        IvrCommand::Simulate {
            flow,
            digits,
            lang,
            at,
            caller,
            called,
            http,
            prompts,
        } => {
            let flow = match load(&flow) {
                Ok(f) => Arc::new(f),
                Err(code) => return code,
            };
            let at = at.as_deref().unwrap_or("2026-01-05T10:00");
            let at = match ivr::parse_at(at, flow.timezone) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: --at: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut script = SimScript::new(at);
            script.digits = digits;
            script.language = lang;
            script.caller = caller;
            script.called = called;
            for answer in http {
                if answer == "error" {
                    script.http.push(Err(ivr::HttpError::Status(500)));
                    continue;
                }
                match serde_json::from_str(&answer) {
                    Ok(v) => script.http.push(Ok(v)),
                    Err(e) => {
                        eprintln!("error: --http {answer}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            let catalog = match prompts.as_deref().map(catalog).transpose() {
                Ok(c) => c.map(Arc::new),
                Err(code) => return code,
            };
            print!("{}", ivr::simulate(&flow, &script, catalog));
            ExitCode::SUCCESS
        }
        IvrCommand::Graph { flow, format } => match load(&flow) {
            Ok(flow) => {
                let format = match format {
                    Format::Dot => GraphFormat::Dot,
                    Format::Mermaid => GraphFormat::Mermaid,
                };
                print!("{}", ivr::graph(&flow, format));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        IvrCommand::Schema => {
            print!("{}", ivr::SCHEMA);
            ExitCode::SUCCESS
        }
    }
}

fn check(flows: &[PathBuf], prompts: Option<&Path>, queues: Option<&[String]>) -> ExitCode {
    let catalog = match prompts.map(catalog).transpose() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = CheckOptions {
        prompts: catalog.as_ref(),
        queues,
    };
    let (mut errors, mut warnings) = (0, 0);
    for path in flows {
        let name = path.display().to_string();
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                println!("{name}: error: cannot read: {e}");
                errors += 1;
                continue;
            }
        };
        let diags = ivr::check(&name, &source, &options);
        for d in &diags {
            println!("{d}");
        }
        let e = diags.iter().filter(|d| d.is_error()).count();
        errors += e;
        warnings += diags.len() - e;
        if diags.is_empty() {
            println!("{name}: ok");
        }
    }
    if errors > 0 || warnings > 0 {
        println!("{errors} error(s), {warnings} warning(s)");
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads and parses a flow, printing its errors.
fn load(path: &Path) -> Result<ivr::Flow, ExitCode> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{name}: error: cannot read: {e}");
        ExitCode::FAILURE
    })?;
    ivr::parse_flow(&name, &source).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::FAILURE
    })
}

/// Lists `<root>/<language>/<name>.wav` files.
fn catalog(root: &Path) -> Result<PromptCatalog, ExitCode> {
    let mut c = PromptCatalog::new();
    let languages = std::fs::read_dir(root).map_err(|e| {
        eprintln!("error: --prompts {}: {e}", root.display());
        ExitCode::FAILURE
    })?;
    for lang in languages.flatten() {
        let Ok(files) = std::fs::read_dir(lang.path()) else {
            continue;
        };
        let lang_name = lang.file_name().to_string_lossy().into_owned();
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "wav") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    c.insert(&lang_name, stem);
                }
            }
        }
    }
    Ok(c)
}
