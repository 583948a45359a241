//! Datasets and the batch loader (being written).
