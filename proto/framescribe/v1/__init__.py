"""framescribe.v1: the wire contract's generated protobuf and gRPC stubs."""
