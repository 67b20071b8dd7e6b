// Interop check: a Node.js client (@grpc/grpc-js + @grpc/proto-loader) streams JPEG frames to a
// framescribe server and prints every result as one JSON line on stdout.
//
//   node tests/node/stream_clip.js HOST:PORT FRAME_DIR PERIOD_MS
//
// FRAME_DIR holds 000000.jpg, 000001.jpg, ... sent with timestamps i * PERIOD_MS.
"use strict";
const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const [address, frameDir, periodMs] = process.argv.slice(2);
const protoRoot = path.join(__dirname, "..", "..", "proto");
const definition = protoLoader.loadSync("framescribe/v1/framescribe_service.proto", {
  includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).framescribe.v1;
const client = new v1.FrameScribeService(address, grpc.credentials.createInsecure());

const call = client.StreamAnnotate();
call.on("data", (response) => {
  const kind = response.event;
  console.log(JSON.stringify({ kind, ...response[kind] }));
});
call.on("error", (error) => {
  console.error(`stream failed: ${error.code} ${error.details}`);
  process.exit(2);
});
call.on("end", () => client.close());

call.write({ config: { tasks: ["TASK_GESTURES"], gesture_options: { interim_results: false } } });
const files = fs.readdirSync(frameDir).filter((f) => f.endsWith(".jpg")).sort();
files.forEach((file, i) => {
  call.write({
    frame: {
      timestamp_ms: i * Number(periodMs),
      image: { format: "IMAGE_FORMAT_JPEG", data: fs.readFileSync(path.join(frameDir, file)) },
    },
  });
});
call.end();
