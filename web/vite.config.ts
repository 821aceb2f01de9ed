// Vite: dev server on 127.0.0.1:5173 proxying the APIs, the hub and the dev identity provider so
// the browser talks to one origin; esbuild compiles TSX (automatic JSX runtime).
import { defineConfig } from "vitest/config";

const target = (port: number) => ({ target: `http://127.0.0.1:${port}`, changeOrigin: false });

export default defineConfig({
  esbuild: { jsx: "automatic" },
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: {
      "/api/orders": target(8081),
      "/api/products": target(8082),
      // The gateway checks the browser's Origin (http://127.0.0.1:5173), so keep it unchanged.
      "/hubs": { ...target(8080), ws: true },
      "/dev-idp": target(8090),
      "/.well-known": target(8090),
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
