// ESLint 9 flat config: JavaScript's and typescript-eslint's recommended rules, and React's rules of hooks
// (with the React Compiler's checks that eslint-plugin-react-hooks recommends). Prettier owns the layout.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig([
  globalIgnores(["dist/"]),
  {
    files: ["**/*.{js,ts,tsx}"],
    extends: [js.configs.recommended, tseslint.configs.recommended, reactHooks.configs.flat.recommended],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error", // a missing dependency is a stale value on screen
    },
  },
]);
