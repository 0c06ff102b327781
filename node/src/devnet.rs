//! `x0 devnet`: N real nodes on loopback in one process.
