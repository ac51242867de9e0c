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
# Queue announcements: position, estimated wait, virtual hold.
say en en-us queue_position "You are caller number"
say es es    queue_position "Usted es el llamante número"
say en en-us queue_wait "Your estimated wait is about"
say es es    queue_wait "Su tiempo de espera estimado es de unos"
say en en-us minutes "minutes."
say es es    minutes "minutos."
say en en-us under_a_minute "Your call will be answered in less than a minute."
say es es    under_a_minute "Su llamada será atendida en menos de un minuto."
say en en-us callback_offer "To keep your place and be called back, press 1."
say es es    callback_offer "Para conservar su turno y que le llamemos, pulse 1."
say en en-us callback_confirmed "We will call you back when it is your turn. Goodbye."
say es es    callback_confirmed "Le llamaremos cuando sea su turno. Adiós."
say en en-us queue_full "All our agents are busy. Please call again later."
say es es    queue_full "Todos nuestros agentes están ocupados. Por favor, llame más tarde."
# An overflow hook's "message": another channel takes over.
say en en-us message_coming "We will send you a message to continue on another channel. Goodbye."
say es es    message_coming "Le enviaremos un mensaje para continuar por otro canal. Adiós."
# Numbers for position announcements (1-10; beyond that the position is not said).
n=1
for w in one two three four five six seven eight nine ten; do
    say en en-us "number_$n" "$w"; n=$((n + 1))
done
n=1
for w in uno dos tres cuatro cinco seis siete ocho nueve diez; do
    say es es "number_$n" "$w"; n=$((n + 1))
done
