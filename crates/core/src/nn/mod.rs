//! candle extras for training (being written).
