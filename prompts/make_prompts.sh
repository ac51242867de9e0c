#!/bin/sh
# Regenerates the demo flow's prompts: espeak-ng speaks each text, sox converts it
# to 8 kHz mono 16-bit WAV (what the media engine plays on G.711 legs).
# Needs: apt-get install -y espeak-ng sox. Run from the repository root.
set -eu
say() { # language voice name text
    mkdir -p "prompts/$1"
    espeak-ng -v "$2" -s 160 -w "/tmp/prompt-$1-$3.wav" "$4"
    sox "/tmp/prompt-$1-$3.wav" -r 8000 -c 1 -b 16 "prompts/$1/$3.wav"
    rm -f "/tmp/prompt-$1-$3.wav"
}
say en en-us choose_language "For English, press 1."
say es es    choose_language "Para español, pulse 2."
say en en-us welcome "Welcome to Switchboard. Please hold for an agent."
say es es    welcome "Bienvenido a Switchboard. Espere, por favor, un agente le atenderá."
say en en-us invalid "Sorry, that is not a valid choice."
say es es    invalid "Lo sentimos, esa opción no es válida."
say en en-us no_input "Sorry, we did not hear your choice."
say es es    no_input "Lo sentimos, no hemos recibido su elección."
say en en-us goodbye "Thank you for calling. Goodbye."
say es es    goodbye "Gracias por su llamada. Adiós."
