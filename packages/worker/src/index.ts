/** @zkjobs/worker @packageDocumentation */
export {};
