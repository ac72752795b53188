//! Webhook configurations and the guard policy (skeleton; filled by the move from ork-gateway).
