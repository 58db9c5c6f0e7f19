// Placeholder entry point; replaced by the CLI (check, status, history, ...).
int main() { return 2; }
