//! A playlist: prompts, tones and silences in order, looped or not, with barge-in.

use super::{check_rate, frame_samples, Played, PlayerError, Prompt, ToneGenerator, ToneSpec};

/// Something to play.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    what: What,
    interruptible: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum What {
    Prompt(Prompt),
    Tone { spec: ToneSpec, duration_ms: Option<u32> },
    Silence { duration_ms: u32 },
}

impl Item {
    /// A prompt, played to its end.
    pub fn prompt(prompt: Prompt) -> Item {
        Item {
            what: What::Prompt(prompt),
            interruptible: false,
        }
    }

    /// A tone for `duration_ms`, or until stopped when `None` (or until a tone that does
    /// not repeat ends).
    pub fn tone(spec: ToneSpec, duration_ms: Option<u32>) -> Item {
        Item {
            what: What::Tone { spec, duration_ms },
            interruptible: false,
        }
    }

    /// Silence.
    pub fn silence(duration_ms: u32) -> Item {
        Item {
            what: What::Silence { duration_ms },
            interruptible: false,
        }
    }

    /// Marks the item as one a caller's digit may cut short (barge-in).
    pub fn interruptible(mut self, yes: bool) -> Item {
        self.interruptible = yes;
        self
    }

    /// Whether a digit may cut this item short.
    pub fn is_interruptible(&self) -> bool {
        self.interruptible
    }
}

/// Where playback stands inside the current item.
#[derive(Debug, Clone)]
enum Cursor {
    /// Not started.
    Start,
    Prompt {
        position: usize,
    },
    Tone {
        generator: Box<ToneGenerator>,
        remaining: Option<u64>,
    },
    Silence {
        remaining: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Playing,
    Interrupted,
    Finished,
}

/// Items played in order at one rate, 20 ms per [`Playlist::next_frame`].
///
/// Looping (music on hold) starts again at the first item after the last; a list that
/// would loop without producing a sample (only empty items) finishes instead.
#[derive(Debug, Clone)]
pub struct Playlist {
    rate: u32,
    items: Vec<Item>,
    looping: bool,
    index: usize,
    cursor: Cursor,
    /// Samples produced since the list last started from its first item.
    produced_this_pass: u64,
    state: State,
}

impl Playlist {
    /// An empty playlist at `rate` Hz (8000 for G.711 legs, 48000 for Opus legs).
    pub fn new(rate: u32) -> Result<Playlist, PlayerError> {
        check_rate(rate)?;
        Ok(Playlist {
            rate,
            items: Vec::new(),
            looping: false,
            index: 0,
            cursor: Cursor::Start,
            produced_this_pass: 0,
            state: State::Playing,
        })
    }

    /// Appends an item; a prompt must have been converted to the playlist's rate, and a
    /// tone must be playable at it.
    pub fn push(&mut self, item: Item) -> Result<(), PlayerError> {
        match &item.what {
            What::Prompt(p) if p.rate() != self.rate => {
                return Err(PlayerError::RateMismatch {
                    prompt: p.rate(),
                    playlist: self.rate,
                });
            }
            What::Tone { spec, .. } => {
                ToneGenerator::new(spec, self.rate)?;
            }
            _ => {}
        }
        self.items.push(item);
        Ok(())
    }

    /// Appends an item, builder style.
    pub fn with(mut self, item: Item) -> Result<Playlist, PlayerError> {
        self.push(item)?;
        Ok(self)
    }

    /// Plays the list again from the start after its end, until stopped (music on hold).
    pub fn looping(mut self, yes: bool) -> Playlist {
        self.looping = yes;
        self
    }

    /// The playback rate in Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples in the 20 ms frame [`Playlist::next_frame`] expects.
    pub fn frame_samples(&self) -> usize {
        frame_samples(self.rate)
    }

    /// Whether nothing more will be played.
    pub fn is_finished(&self) -> bool {
        self.state != State::Playing
    }

    /// Barge-in: if the item playing now is interruptible, stops the whole playlist (the
    /// rest of a menu too) and returns `true`; the next [`Playlist::next_frame`] reports
    /// [`Played::Interrupted`]. An item that is not interruptible keeps playing (`false`).
    pub fn interrupt(&mut self) -> bool {
        let interruptible = self.items.get(self.index).is_some_and(Item::is_interruptible);
        if self.state == State::Playing && interruptible {
            self.state = State::Interrupted;
            true
        } else {
            false
        }
    }

    /// Fills `out` (normally [`Playlist::frame_samples`] long) with the next samples.
    ///
    /// Where the list ends inside the frame the rest is silence and [`Played::Frame`] is
    /// returned; calls after that return [`Played::Finished`] with a silent frame.
    pub fn next_frame(&mut self, out: &mut [i16]) -> Played {
        match self.state {
            State::Interrupted => {
                out.fill(0);
                self.state = State::Finished;
                return Played::Interrupted;
            }
            State::Finished => {
                out.fill(0);
                return Played::Finished;
            }
            State::Playing => {}
        }
        let mut filled = 0;
        while filled < out.len() {
            let Some(item) = self.items.get(self.index) else {
                if self.looping && self.produced_this_pass > 0 {
                    self.index = 0;
                    self.produced_this_pass = 0;
                    continue;
                }
                self.state = State::Finished;
                break;
            };
            let rest = out.get_mut(filled..).unwrap_or_default();
            let (written, item_done) = render(item, &mut self.cursor, self.rate, rest);
            filled += written;
            self.produced_this_pass += written as u64;
            if item_done {
                self.index += 1;
                self.cursor = Cursor::Start;
            }
        }
        if let Some(rest) = out.get_mut(filled..) {
            rest.fill(0);
        }
        if filled == 0 {
            Played::Finished
        } else {
            Played::Frame
        }
    }
}

/// Renders as much of `item` as fits; returns samples written and whether the item ended.
fn render(item: &Item, cursor: &mut Cursor, rate: u32, out: &mut [i16]) -> (usize, bool) {
    let samples_of = |ms: u32| u64::from(ms) * u64::from(rate) / 1000;
    if matches!(cursor, Cursor::Start) {
        *cursor = match &item.what {
            What::Prompt(_) => Cursor::Prompt { position: 0 },
            What::Silence { duration_ms } => Cursor::Silence {
                remaining: samples_of(*duration_ms),
            },
            What::Tone { spec, duration_ms } => match ToneGenerator::new(spec, rate) {
                Ok(generator) => Cursor::Tone {
                    generator: Box::new(generator),
                    remaining: duration_ms.map(samples_of),
                },
                // Checked when the item was pushed; an unplayable tone is skipped.
                Err(_) => return (0, true),
            },
        };
    }
    match (cursor, &item.what) {
        (Cursor::Prompt { position }, What::Prompt(prompt)) => {
            let source = prompt.samples().get(*position..).unwrap_or_default();
            let n = source.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), source.get(..n)) {
                dst.copy_from_slice(src);
            }
            *position += n;
            (n, *position >= prompt.samples().len())
        }
        (Cursor::Silence { remaining }, _) => {
            let n = usize::try_from(*remaining).unwrap_or(usize::MAX).min(out.len());
            if let Some(dst) = out.get_mut(..n) {
                dst.fill(0);
            }
            *remaining -= n as u64;
            (n, *remaining == 0)
        }
        (Cursor::Tone { generator, remaining }, _) => {
            let want = remaining.map_or(out.len(), |r| usize::try_from(r).unwrap_or(usize::MAX).min(out.len()));
            let n = out.get_mut(..want).map_or(0, |dst| generator.fill(dst));
            if let Some(r) = remaining {
                *r -= n as u64;
            }
            (n, generator.is_done() || *remaining == Some(0))
        }
        // The cursor is made from the item just above; any mismatch ends the item.
        _ => (0, true),
    }
}
