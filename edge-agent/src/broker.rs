//! STUB (to be written): the embedded rumqttd broker on its own thread.
