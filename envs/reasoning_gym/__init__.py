"""reasoning-gym's procedural generators and verifiers as a datagym task."""
