//! Prompt files: `prompts/<language>/<name>.wav`, with fallback to the default language.
//!
//! This crate does no I/O: the caller lists the files it has (for example by walking
//! the prompts directory) and builds a [`PromptCatalog`] from them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A prompt resolved for playing: name, the language whose file is used, and the
/// file's path relative to the prompts root (`<language>/<name>.wav`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedPrompt {
    /// The prompt's name.
    pub name: String,
    /// The language of the file chosen (the default language if the call's language
    /// has no such file).
    pub language: String,
    /// `<language>/<name>.wav`, relative to the prompts root.
    pub path: PathBuf,
}

/// The prompt files that exist, as (language, name) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptCatalog {
    files: BTreeSet<(String, String)>,
}

impl PromptCatalog {
    /// An empty catalogue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `<language>/<name>.wav` exists.
    pub fn insert(&mut self, language: &str, name: &str) {
        self.files.insert((language.to_owned(), name.to_owned()));
    }

    /// Builds a catalogue from paths relative to the prompts root
    /// (`en/welcome.wav`); other paths are ignored.
    pub fn from_relative_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Self {
        let mut c = Self::new();
        for p in paths {
            let parts: Vec<_> = p.iter().collect();
            if let [lang, file] = parts.as_slice() {
                let file = Path::new(file);
                if file.extension().is_some_and(|e| e == "wav") {
                    if let (Some(l), Some(n)) = (lang.to_str(), file.file_stem().and_then(|s| s.to_str())) {
                        c.insert(l, n);
                    }
                }
            }
        }
        c
    }

    /// Whether `<language>/<name>.wav` exists.
    pub fn contains(&self, language: &str, name: &str) -> bool {
        self.files.contains(&(language.to_owned(), name.to_owned()))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether it has no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Resolves a prompt name for `language`, falling back to `default_language` when the
/// catalogue says the file is missing (without a catalogue, `language` is used).
pub fn resolve(name: &str, language: &str, default_language: &str, catalog: Option<&PromptCatalog>) -> ResolvedPrompt {
    let language = match catalog {
        Some(c) if !c.contains(language, name) && c.contains(default_language, name) => default_language,
        _ => language,
    };
    ResolvedPrompt {
        name: name.to_owned(),
        language: language.to_owned(),
        path: Path::new(language).join(format!("{name}.wav")),
    }
}
