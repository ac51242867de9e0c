//! Loads what IVR flows need at start-up (file I/O, so the SIP core does
//! none): the routed flows, checked, and every prompt under the prompts root
//! decoded once at 8 kHz.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use ivr::PromptCatalog;
use media::player::Prompt;

use crate::config::Config;
use crate::switch::IvrSetup;

/// Reads the flows of `[[routes]]` and the prompts of `[ivr]`. A flow with
/// errors stops the start, with every error and its position.
pub(crate) fn load(config: &Config) -> anyhow::Result<IvrSetup> {
    let mut setup = IvrSetup {
        queues: config
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.agents.clone()))
            .collect(),
        ..IvrSetup::default()
    };
    if config.routes.is_empty() {
        return Ok(setup);
    }
    let root = &config.ivr.prompts;
    let mut files = Vec::new();
    wav_files(root, root, &mut files);
    let relative: Vec<PathBuf> = files.iter().map(|(rel, _)| rel.clone()).collect();
    setup.catalog = Arc::new(PromptCatalog::from_relative_paths(
        relative.iter().map(PathBuf::as_path),
    ));
    let mut prompts = HashMap::new();
    for (rel, full) in &files {
        match Prompt::load(full, 8000) {
            Ok(p) => {
                prompts.insert(rel.to_string_lossy().replace('\\', "/"), p);
            }
            Err(e) => tracing::warn!(file = %full.display(), %e, "prompt not loaded"),
        }
    }
    setup.prompts = prompts;
    for route in &config.routes {
        let file = route.flow.display().to_string();
        let text = std::fs::read_to_string(&route.flow).with_context(|| format!("reading flow {file}"))?;
        let flow = match ivr::parse_flow(&file, &text) {
            Ok(flow) => flow,
            Err(errors) => {
                let list: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                bail!("flow for {} has errors:\n{}", route.number, list.join("\n"));
            }
        };
        setup.flows.insert(route.number.clone(), Arc::new(flow));
    }
    tracing::info!(flows = setup.flows.len(), prompts = setup.prompts.len(), "IVR loaded");
    Ok(setup)
}

fn wav_files(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            wav_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push((rel.to_path_buf(), path.clone()));
            }
        }
    }
}
