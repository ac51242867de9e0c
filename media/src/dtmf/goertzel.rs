//! In-band DTMF detection (Goertzel): not written yet.
