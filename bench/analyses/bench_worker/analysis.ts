// the same analysis as `bench`, in worker threads (index.yaml: kernel: worker)
export { Bench } from '../bench/analysis.ts';
