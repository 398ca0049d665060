"""`edgebench fleet`: a matrix run on several boards over SSH, driven by Ansible
(playbooks in `playbooks/`), the results brought home and reported side by side."""
