"""OrganSMNIST: abdominal CT, sagittal slices, 11 organs (MedMNIST v3, 224 px)."""

from fhbench.data.medmnist_family import MedMNISTDataset

DATASET = MedMNISTDataset("organsmnist")
