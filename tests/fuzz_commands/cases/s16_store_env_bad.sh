LOOPLAB_STORE=bogus://x L status
