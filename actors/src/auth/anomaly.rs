//! placeholder: the anomaly limits core (being written).
