"""gRPC serving for framescribe: servicers, dynamic batcher, per-stream state."""
