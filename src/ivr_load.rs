//! Loads what IVR flows need at start-up (file I/O, so the SIP core does
//! none): the routed flows, checked, and every prompt under the prompts root
//! decoded once at 8 kHz (G.711 callers) and once at 48 kHz (Opus callers).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use ivr::PromptCatalog;
use media::player::Prompt;

use crate::config::Config;
use crate::switch::IvrSetup;

/// The demo flow and its prompts, built in, so the embedded demo
/// configuration works from any directory.
const DEMO_FLOW_PATH: &str = "flows/demo.yaml";
const DEMO_FLOW: &str = include_str!("../flows/demo.yaml");
macro_rules! demo_prompt {
    ($path:literal) => {
        ($path, include_bytes!(concat!("../prompts/", $path)))
    };
}
const DEMO_PROMPTS: &[(&str, &[u8])] = &[
    demo_prompt!("en/choose_language.wav"),
    demo_prompt!("en/goodbye.wav"),
    demo_prompt!("en/invalid.wav"),
    demo_prompt!("en/no_input.wav"),
    demo_prompt!("en/welcome.wav"),
    demo_prompt!("en/queue_position.wav"),
    demo_prompt!("en/queue_wait.wav"),
    demo_prompt!("en/minutes.wav"),
    demo_prompt!("en/under_a_minute.wav"),
    demo_prompt!("en/callback_offer.wav"),
    demo_prompt!("en/callback_confirmed.wav"),
    demo_prompt!("en/queue_full.wav"),
    demo_prompt!("en/number_1.wav"),
    demo_prompt!("en/number_2.wav"),
    demo_prompt!("en/number_3.wav"),
    demo_prompt!("en/number_4.wav"),
    demo_prompt!("en/number_5.wav"),
    demo_prompt!("en/number_6.wav"),
    demo_prompt!("en/number_7.wav"),
    demo_prompt!("en/number_8.wav"),
    demo_prompt!("en/number_9.wav"),
    demo_prompt!("en/number_10.wav"),
    demo_prompt!("es/choose_language.wav"),
    demo_prompt!("es/goodbye.wav"),
    demo_prompt!("es/invalid.wav"),
    demo_prompt!("es/no_input.wav"),
    demo_prompt!("es/welcome.wav"),
    demo_prompt!("es/queue_position.wav"),
    demo_prompt!("es/queue_wait.wav"),
    demo_prompt!("es/minutes.wav"),
    demo_prompt!("es/under_a_minute.wav"),
    demo_prompt!("es/callback_offer.wav"),
    demo_prompt!("es/callback_confirmed.wav"),
    demo_prompt!("es/queue_full.wav"),
    demo_prompt!("es/number_1.wav"),
    demo_prompt!("es/number_2.wav"),
    demo_prompt!("es/number_3.wav"),
    demo_prompt!("es/number_4.wav"),
    demo_prompt!("es/number_5.wav"),
    demo_prompt!("es/number_6.wav"),
    demo_prompt!("es/number_7.wav"),
    demo_prompt!("es/number_8.wav"),
    demo_prompt!("es/number_9.wav"),
    demo_prompt!("es/number_10.wav"),
];

/// Reads the flows of `[[routes]]` and the prompts of `[ivr]`. A flow with
/// errors stops the start, with every error and its position. The demo's
/// flow and prompts are used from the binary when their files are not found.
pub(crate) fn load(config: &Config) -> anyhow::Result<IvrSetup> {
    let mut setup = IvrSetup {
        voicemail: config.ivr.voicemail.clone(),
        ..IvrSetup::default()
    };
    if config.routes.is_empty() {
        return Ok(setup);
    }
    let root = &config.ivr.prompts;
    let mut files = Vec::new();
    wav_files(root, root, &mut files);
    let built_in = files.is_empty() && root.as_os_str() == "prompts";
    let mut relative: Vec<PathBuf> = files.iter().map(|(rel, _)| rel.clone()).collect();
    if built_in {
        relative = DEMO_PROMPTS.iter().map(|(rel, _)| PathBuf::from(rel)).collect();
    }
    setup.catalog = Arc::new(PromptCatalog::from_relative_paths(
        relative.iter().map(PathBuf::as_path),
    ));
    for rate in [8000, 48_000] {
        let mut prompts = HashMap::new();
        for (rel, full) in &files {
            match Prompt::load(full, rate) {
                Ok(p) => {
                    prompts.insert(rel.to_string_lossy().replace('\\', "/"), p);
                }
                Err(e) => tracing::warn!(file = %full.display(), %e, "prompt not loaded"),
            }
        }
        if built_in {
            for (rel, bytes) in DEMO_PROMPTS {
                if let Ok(p) = Prompt::decode(std::io::Cursor::new(*bytes), rate) {
                    prompts.insert((*rel).to_owned(), p);
                }
            }
        }
        match rate {
            8000 => setup.prompts = prompts,
            _ => setup.prompts_48k = prompts,
        }
    }
    for route in &config.routes {
        let file = route.flow.display().to_string();
        let text = match std::fs::read_to_string(&route.flow) {
            Ok(text) => text,
            Err(_) if route.flow.as_os_str() == DEMO_FLOW_PATH => DEMO_FLOW.to_owned(),
            Err(e) => return Err(e).with_context(|| format!("reading flow {file}")),
        };
        let flow = match ivr::parse_flow(&file, &text) {
            Ok(flow) => flow,
            Err(errors) => {
                let list: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                bail!("flow for {} has errors:\n{}", route.number, list.join("\n"));
            }
        };
        match &route.caller_prefix {
            Some(prefix) => setup
                .by_caller
                .push((route.number.clone(), prefix.clone(), Arc::new(flow))),
            None => {
                setup.flows.insert(route.number.clone(), Arc::new(flow));
            }
        }
    }
    tracing::info!(
        flows = setup.flows.len() + setup.by_caller.len(),
        prompts = setup.prompts.len(),
        "IVR loaded"
    );
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
