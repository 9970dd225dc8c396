/* placeholder while parsl-run is written */
int main(void) { return 2; }
