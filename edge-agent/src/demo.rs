//! STUB (to be written): simulated tables that play realistic matches through MQTT.
