"""What each allowed destination may receive: PII normalised and hashed, IPs cut, the rest dropped."""
