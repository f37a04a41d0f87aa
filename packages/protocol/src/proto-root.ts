import Long from 'long';
import protobuf from 'protobufjs';
import descriptor from './generated/sensor.json' with { type: 'json' };

/** Protobuf package of every message in proto/sensor.proto. */
export const PROTO_PACKAGE = 'sensor_streaming.v1';

let root: protobuf.Root | undefined;

/**
 * The reflection root built from the descriptor that `pnpm generate` produces
 * from proto/sensor.proto. Built on first use, not at import time.
 */
function getRoot(): protobuf.Root {
  if (root === undefined) {
    // int64 fields must decode to Long (exact), never to a lossy number.
    if (protobuf.util.Long !== Long) {
      protobuf.util.Long = Long;
      protobuf.configure();
    }
    root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
    root.resolveAll();
  }
  return root;
}

/** The message type `sensor_streaming.v1.<name>`. */
export function getMessageType(name: string): protobuf.Type {
  return getRoot().lookupType(`${PROTO_PACKAGE}.${name}`);
}
