"""Reference game servers the farm's AI players play through connectors."""
