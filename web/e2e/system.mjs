// Starts the whole system with `cargo xtask up` (as a developer would), waits until it says it
// is ready, and stops it with SIGINT (Ctrl-C) at the end, checking that nothing is left behind.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import net from "node:net";
import path from "node:path";

export const WEB_URL = "http://127.0.0.1:5173";
export const PORTS = [4222, 5433, 8080, 8081, 8082, 8090, 5173];

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function openPorts() {
  const open = [];
  for (const port of PORTS) if (await portOpen(port)) open.push(port);
  return open;
}

/** Spawns `cargo xtask up` in its own process group; resolves once it printed "OrderFlow is ready.". */
export async function startSystem(root, logPath, { env = {}, timeoutMs = 15 * 60_000 } = {}) {
  const busy = await openPorts();
  if (busy.length > 0) {
    throw new Error(`ports ${busy.join(", ")} are in use: stop the running OrderFlow (cargo xtask up) first`);
  }
  const log = createWriteStream(logPath);
  // Under `cargo xtask test` the services were just built by the Rust suite: run those.
  const args = process.env.ORDERFLOW_E2E_PREBUILT === "1" ? ["xtask", "up", "--prebuilt"] : ["xtask", "up"];
  const child = spawn("cargo", args, {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let output = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cargo xtask up was not ready within ${timeoutMs / 1000}s; see ${logPath}`)),
      timeoutMs,
    );
    const onData = (chunk) => {
      log.write(chunk);
      output += chunk.toString();
      if (output.includes("OrderFlow is ready.")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk) => log.write(chunk));
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`cargo xtask up exited early (${code ?? signal}); see ${logPath}`));
    });
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await ready;
  } catch (e) {
    await stopSystem({ child, exited });
    throw e;
  }
  return { child, exited, log };
}

/** Ctrl-C to the process group, as a terminal does; then make sure nothing survives. */
export async function stopSystem({ child, exited }) {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, "SIGINT");
    } catch {
      // Already gone.
    }
    const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 60_000));
    if ((await Promise.race([exited, timeout])) === "timeout") {
      console.error("cargo xtask up did not stop within 60 s after SIGINT; killing its process group");
    }
  }
  try {
    // Anything still in the group (there should be nothing) is killed.
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // ESRCH: the group is empty, as it should be.
  }
  for (let i = 0; i < 50; i++) {
    const open = await openPorts();
    if (open.length === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`ports still open after stopping: ${(await openPorts()).join(", ")}`);
}
