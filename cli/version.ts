/** The tool's version, printed by --version and stamped into results. */
export const VERSION = '0.1.0';
